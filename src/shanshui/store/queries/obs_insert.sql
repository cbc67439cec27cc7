-- Insert the staged readings whose key is new; the row count is the number inserted. Staged
-- readings whose key is stored already go through obs_corrections / obs_update. Rows go in
-- key order so that concurrent writers of overlapping batches lock keys in the same order
-- (no deadlock) and the primary-key index is filled in runs. The key is integer ids
-- (migration 0004): the sort and every index probe compare integers, not codes.
insert into obs (site_id, parameter_id, statistic, period, time, value, flag, received, source)
select site_id, parameter_id, statistic, period, time, value, flag, received, source
from stage_obs
order by site_id, parameter_id, statistic, period, time
on conflict (site_id, parameter_id, statistic, period, time) do nothing
