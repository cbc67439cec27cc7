-- obs_insert.sql, returning the keys inserted (asked only for a batch that repeats a key:
-- its replacements inside the batch are audited for the keys it stored).
insert into obs (site_id, parameter_id, statistic, period, time, value, flag, received, source)
select s.site_id, s.parameter_id, s.statistic, s.period, s.time, s.value, s.flag, s.received,
       s.source
from stage_obs s
where not exists (
    select 1 from obs o
    where o.time >= cast(:tmin as timestamptz) and o.time <= cast(:tmax as timestamptz)
      and o.site_id >= cast(:smin as integer) and o.site_id <= cast(:smax as integer)
      and o.site_id = s.site_id and o.parameter_id = s.parameter_id
      and o.statistic = s.statistic and o.period = s.period and o.time = s.time
)
returning site_id, parameter_id, statistic, period, time
