-- Staged readings that differ from the stored reading with the same key: corrections.
-- [:tmin, :tmax], [:smin, :smax]: the batch's time and site spans (see obs_insert.sql).
select s.site, s.parameter, s.statistic, s.period, s.time, o.value, o.flag, s.value, s.flag
from stage_obs s
join observation o
  on o.site = s.site and o.parameter = s.parameter and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where o.time >= cast(:tmin as timestamptz) and o.time <= cast(:tmax as timestamptz)
  and o.site >= :smin and o.site <= :smax
  and (o.value <> s.value or o.flag is distinct from s.flag)
