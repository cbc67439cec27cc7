-- obs_insert.sql, returning the keys inserted (asked only for a batch that repeats a key:
-- its replacements inside the batch are audited for the keys it stored).
insert into obs (site_id, parameter_id, statistic, period, time, value, flag, received, source)
select site_id, parameter_id, statistic, period, time, value, flag, received, source
from stage_obs
order by site_id, parameter_id, statistic, period, time
on conflict (site_id, parameter_id, statistic, period, time) do nothing
returning site_id, parameter_id, statistic, period, time
