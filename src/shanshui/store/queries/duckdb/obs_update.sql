-- Replace stored readings by staged ones with the same key and another value or flag (a
-- correction); [:tmin, :tmax], [:smin, :smax]: the batch's time and site-id spans (see
-- obs_insert.sql).
update obs
set value = s.value, flag = s.flag, received = s.received, source = s.source
from stage_obs s
where obs.time >= cast(:tmin as timestamptz) and obs.time <= cast(:tmax as timestamptz)
  and obs.site_id >= cast(:smin as integer) and obs.site_id <= cast(:smax as integer)
  and obs.site_id = s.site_id and obs.parameter_id = s.parameter_id
  and obs.statistic = s.statistic and obs.period = s.period and obs.time = s.time
  and (obs.value <> s.value or obs.flag is distinct from s.flag)
  and s.received >= obs.received  -- a later arrival only (obs_corrections.sql)
