-- Replace stored readings by staged ones with the same key and another value or flag (a
-- correction); a resend of the same reading changes nothing (DESIGN §4). Only a reading that
-- arrived no earlier than the stored one replaces it: see obs_corrections.sql.
update obs
set value = s.value, flag = s.flag, received = s.received, source = s.source
from stage_obs s
where obs.site_id = s.site_id and obs.parameter_id = s.parameter_id
  and obs.statistic = s.statistic and obs.period = s.period and obs.time = s.time
  and (obs.value <> s.value or obs.flag is distinct from s.flag)
  and s.received >= obs.received
