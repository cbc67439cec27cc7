insert into permit_limit (site, parameter, permit, unit, hourly, daily, converted, reference_o2,
                          rate_kg_h, standard)
values (:site, :parameter, :permit, :unit, :hourly, :daily, :converted, :reference_o2,
        :rate_kg_h, :standard)
