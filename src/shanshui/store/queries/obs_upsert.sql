-- Insert new readings; replace a stored reading only when value or flag differ (a resend of
-- the same reading changes nothing, DESIGN §4). The row count is inserted + replaced.
insert into observation (site, parameter, statistic, period, time, value, flag, received, source)
select site, parameter, statistic, period, time, value, flag, received, source from stage_obs
on conflict (site, parameter, statistic, period, time) do update
set value = excluded.value, flag = excluded.flag, received = excluded.received,
    source = excluded.source
where observation.value <> excluded.value or observation.flag is distinct from excluded.flag
