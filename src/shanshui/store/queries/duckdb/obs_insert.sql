-- Insert the staged readings whose key is not stored yet; the row count is the number
-- inserted. [:tmin, :tmax] is the batch's time span and [:smin, :smax] its span of site
-- codes: they let DuckDB skip the row groups outside them (zone maps), so the check costs
-- the batch, not the table (an import of one station's years skips the other stations).
insert into observation (site, parameter, statistic, period, time, value, flag, received, source)
select s.site, s.parameter, s.statistic, s.period, s.time, s.value, s.flag, s.received, s.source
from stage_obs s
where not exists (
    select 1 from observation o
    where o.time >= cast(:tmin as timestamptz) and o.time <= cast(:tmax as timestamptz)
      and o.site >= :smin and o.site <= :smax
      and o.site = s.site and o.parameter = s.parameter and o.statistic = s.statistic
      and o.period = s.period and o.time = s.time
)
