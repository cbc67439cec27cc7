insert into permit_outlet (site, permit, enterprise, code, name, type, kind, mn,
                           reporting_interval_s)
values (:site, :permit, :enterprise, :code, :name, :type, :kind, :mn, :reporting_interval_s)
