-- Daily means of hourly means over each staged (site, natural day) window [start_utc, end_utc);
-- the rule and its sources are in ../daily_upsert.sql (GB 3095-2012 Table 4: valid with at
-- least :min_valid = 20 valid hourly means; valid hours: flag N or none).
-- PostgreSQL form: one aggregate per (site, day, parameter) over a primary-key range scan
-- (LATERAL), so the plan cannot turn into a scan of all readings when the planner's row
-- estimates are off (e.g. right after a bulk load, before autovacuum has analysed the table).
-- By integer ids (migration 0004): each probe compares integers.
insert into daily (site, parameter, statistic, day, value, min, max, expected, observed,
                   valid_count, valid, computed)
select d.site, p.code, 'avg', d.day, a.value, a.min, a.max, d.expected, a.observed,
       a.valid_count, a.valid_count >= cast(:min_valid as integer),
       cast(:computed as timestamptz)
from stage_days d
join site_key k on k.code = d.site
cross join parameter_key p
cross join lateral (
    select avg(o.value) filter (where o.flag is null or o.flag = 'N') as value,
           min(o.value) filter (where o.flag is null or o.flag = 'N') as min,
           max(o.value) filter (where o.flag is null or o.flag = 'N') as max,
           count(*) as observed,
           count(*) filter (where o.flag is null or o.flag = 'N') as valid_count
    from obs o
    where o.site_id = k.id and o.parameter_id = p.id and o.statistic = 'avg'
      and o.period = 'hour' and o.time >= d.start_utc and o.time < d.end_utc
) a
where a.observed > 0
on conflict (site, parameter, statistic, day) do update
set value = excluded.value, min = excluded.min, max = excluded.max,
    expected = excluded.expected, observed = excluded.observed,
    valid_count = excluded.valid_count, valid = excluded.valid, computed = excluded.computed
