-- Insert the staged readings whose key is new; the row count is the number inserted. Staged
-- readings whose key is stored already go through obs_corrections / obs_update.
insert into observation (site, parameter, statistic, period, time, value, flag, received, source)
select site, parameter, statistic, period, time, value, flag, received, source from stage_obs
on conflict (site, parameter, statistic, period, time) do nothing
