-- Apply the corrections obs_corrections.sql found and locked: exactly their keys (:site_ids,
-- :parameter_ids, :statistics, :periods, :times, one array element per key), with the staged
-- readings of those keys. The rows are locked by this transaction, so they hold the values
-- that were compared and audited.
update obs
set value = s.value, flag = s.flag, received = s.received, source = s.source
from unnest(cast(:site_ids as integer[]), cast(:parameter_ids as integer[]),
            cast(:statistics as text[]), cast(:periods as text[]),
            cast(:times as timestamptz[])) as k (site_id, parameter_id, statistic, period, time)
join stage_obs s
  on s.site_id = k.site_id and s.parameter_id = k.parameter_id
 and s.statistic = k.statistic and s.period = k.period and s.time = k.time
where obs.site_id = k.site_id and obs.parameter_id = k.parameter_id
  and obs.statistic = k.statistic and obs.period = k.period and obs.time = k.time
