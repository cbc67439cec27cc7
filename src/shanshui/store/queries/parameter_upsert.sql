insert into parameter (code, name, unit, hj212)
select code, name, unit, hj212 from stage_params
order by code  -- a fixed lock order: concurrent registrations cannot deadlock
on conflict (code) do update set name = excluded.name, unit = excluded.unit, hj212 = excluded.hj212
