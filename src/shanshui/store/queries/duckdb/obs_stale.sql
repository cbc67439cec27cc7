-- Staged readings older than the stored, different reading of their key (see
-- ../obs_stale.sql). [:tmin, :tmax], [:smin, :smax]: the batch's time and site-id spans
-- (see obs_insert.sql).
select count(*)
from stage_obs s
join obs o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where o.time >= cast(:tmin as timestamptz) and o.time <= cast(:tmax as timestamptz)
  and o.site_id >= cast(:smin as integer) and o.site_id <= cast(:smax as integer)
  and (o.value <> s.value or o.flag is distinct from s.flag)
  and s.received < o.received
