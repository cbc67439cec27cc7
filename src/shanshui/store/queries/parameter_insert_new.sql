-- Define the staged parameters not defined yet; a definition made before (by an operator, a
-- seed, a registration in another process) stays as it is (Store.upsert_parameters with
-- replace=False: a gateway's guess for a code first seen in a frame fills a gap only).
insert into parameter (code, name, unit, hj212)
select code, name, unit, hj212 from stage_params
order by code  -- a fixed lock order: concurrent registrations cannot deadlock
on conflict (code) do nothing
