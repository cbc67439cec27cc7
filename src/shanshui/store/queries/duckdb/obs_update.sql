-- Replace stored readings by staged ones with the same key and another value or flag (a
-- correction); [:tmin, :tmax], [:smin, :smax]: the batch's time and site spans (see
-- obs_insert.sql).
update observation
set value = s.value, flag = s.flag, received = s.received, source = s.source
from stage_obs s
where observation.time >= cast(:tmin as timestamptz)
  and observation.time <= cast(:tmax as timestamptz)
  and observation.site >= :smin and observation.site <= :smax
  and observation.site = s.site and observation.parameter = s.parameter
  and observation.statistic = s.statistic and observation.period = s.period
  and observation.time = s.time
  and (observation.value <> s.value or observation.flag is distinct from s.flag)
