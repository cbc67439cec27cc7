-- Insert the staged readings whose key is not stored yet; the row count is the number
-- inserted. [:tmin, :tmax] is the batch's time span and [:smin, :smax] its span of site ids:
-- they let DuckDB skip the row groups of obs outside them (zone maps), so the check costs the
-- batch, not the table (an import of one station's years skips the other stations). The key
-- is integer ids (migration 0004): the anti-join hashes and compares integers, not codes.
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
