insert into site (code, name, kind, region, lon, lat, role, tz, attributes, updated)
select code, name, kind, region, lon, lat, role, tz, attributes, cast(:updated as timestamptz)
from stage_sites
order by code  -- a fixed lock order: concurrent registrations cannot deadlock
on conflict (code) do update
set name = excluded.name, kind = excluded.kind, region = excluded.region, lon = excluded.lon,
    lat = excluded.lat, role = excluded.role, tz = excluded.tz, attributes = excluded.attributes,
    updated = excluded.updated
