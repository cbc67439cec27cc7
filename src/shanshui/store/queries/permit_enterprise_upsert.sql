insert into permit_enterprise (id, name, region, industry, address, updated)
values (:id, :name, :region, :industry, :address, :updated)
on conflict (id) do update set
    name = excluded.name, region = excluded.region, industry = excluded.industry,
    address = excluded.address, updated = excluded.updated
