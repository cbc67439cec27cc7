-- Staged keys whose stored reading arrived at the same time as the staged one or later: a
-- journal record applied before and replayed (a crash between the store's commit and the
-- journal's checkpoint), or a stale arrival (obs_corrections.sql). The batch changes
-- nothing there, so the replacements inside the batch of those keys are not audited (again).
select s.site_id, s.parameter_id, s.statistic, s.period, s.time
from stage_obs s
join obs o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where o.received >= s.received
