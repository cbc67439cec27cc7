-- Daily means of hourly means over each staged (site, natural day) window [start_utc, end_utc).
-- Hourly values are labelled by the start of their hour (DESIGN §4), so the day's labels are
-- 00:00 .. 23:00 local time. Valid hours: flag N or no flag (HJ 212-2017 data flags; F, M, S,
-- D, C, T, B mark stopped, maintained, set, faulty, calibrating, over-range or link-failed
-- values, which do not enter statistics). The mean is valid with at least :min_valid valid
-- hourly values (GB 3095-2012 Table 4, 24-hour mean: at least 20 hourly means in the day).
-- [:tmin, :tmax) bounds all windows, so DuckDB's zone maps skip the row groups outside them.
-- By integer ids (migration 0004): the join and the aggregate hash integers; the codes of
-- the few result rows join in at the end. PostgreSQL has its own form
-- (postgres/daily_upsert.sql) that probes the primary key.
insert into daily (site, parameter, statistic, day, value, min, max, expected, observed,
                   valid_count, valid, computed)
select a.site, p.code, 'avg', a.day, a.value, a.min, a.max, a.expected, a.observed,
       a.valid_count, a.valid_count >= cast(:min_valid as integer),
       cast(:computed as timestamptz)
from (
    select d.site, d.day, d.expected, o.parameter_id,
           avg(o.value) filter (where o.flag is null or o.flag = 'N') as value,
           min(o.value) filter (where o.flag is null or o.flag = 'N') as min,
           max(o.value) filter (where o.flag is null or o.flag = 'N') as max,
           count(*) as observed,
           count(*) filter (where o.flag is null or o.flag = 'N') as valid_count
    from stage_days d
    join site_key k on k.code = d.site
    join obs o
      on o.site_id = k.id and o.statistic = 'avg' and o.period = 'hour'
     and o.time >= d.start_utc and o.time < d.end_utc
    where o.time >= cast(:tmin as timestamptz) and o.time < cast(:tmax as timestamptz)
    group by d.site, d.day, d.expected, o.parameter_id
) a
join parameter_key p on p.id = a.parameter_id
on conflict (site, parameter, statistic, day) do update
set value = excluded.value, min = excluded.min, max = excluded.max,
    expected = excluded.expected, observed = excluded.observed,
    valid_count = excluded.valid_count, valid = excluded.valid, computed = excluded.computed
