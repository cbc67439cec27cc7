-- Hourly means of outlets' minute (or hourly) values, the heavy half of the compliance
-- evaluation (shanshui.rules.compliance judges the hours against the limits). Reads the
-- store's observation table. Named parameters:
--   :sites           outlet codes to read (text[]), or null: every outlet (a long list is
--                    left to the join with the limits: checking thousands of codes per row
--                    costs more than aggregating the few outlets not limited)
--   :parameters      the limited parameters and the O2 parameter (text[])
--   :start, :end     time window [start, end) (timestamptz)
--   :statistic       the stored statistic to read ('avg')
--   :period          'minute' (CN 2051) or 'hour' (CN 2061)
--   :min_count       valid values an hour needs (45 of 60 minutes, HJ 76-2017 Annex B;
--                    1 for hourly input); below it the mean is null
-- Only flag N (or no / an empty flag) is valid (HJ 212-2017 Table 6). h is the hour as whole
-- hours since 1970-01-01 UTC (µs // 3.6e9; times after 1970): integer grouping is an order
-- of magnitude cheaper than date_trunc on timestamptz (a calendar call per row), and UTC
-- clock hours are the local hours of whole-hour zones such as Asia/Shanghai.
-- k is the parameter's 1-based position in :parameters (the caller maps it back to the
-- code): grouping by (site, k, h) hashes one string per row instead of two, and the
-- position doubles as the parameter filter (null: not wanted), which DuckDB pushes into the
-- scan; measured about 15 % less CPU than grouping by the parameter text (bench/compliance.py).
select site, k, h,
       count(v)::integer as n,
       case when count(v) >= :min_count then avg(v) end as mean
from (
    select o.site,
           list_position(cast(:parameters as text[]), o.parameter) as k,
           epoch_us(o.time) // 3600000000 as h,
           case when (o.flag is null or o.flag in ('N', '')) and isfinite(o.value) then o.value end
               as v
    from observation o
    -- list filters, not a semi join (`x = any(list)` and `in (select unnest(…))` are planned
    -- as hash joins; list_contains is a cheaper per-row function)
    where (cast(:sites as text[]) is null or list_contains(cast(:sites as text[]), o.site))
      and o.statistic = cast(:statistic as text)
      and o.period = cast(:period as text)
      and o.time >= cast(:start as timestamptz)
      and o.time < cast(:end as timestamptz)
) minutes
where k is not null
group by site, k, h
