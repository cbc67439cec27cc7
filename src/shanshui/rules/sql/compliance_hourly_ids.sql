-- Hourly means of outlets' minute (or hourly) values read from the store's integer-keyed
-- readings (table obs, migration 0004), the heavy half of the compliance evaluation on a
-- DuckDB store (shanshui.rules.compliance judges the hours against the limits). Named
-- parameters:
--   :site_lo, :site_hi         the smallest and largest wanted site id: a range the scan
--                              checks against row-group zone maps (one outlet of many: a
--                              few row groups)
--   :site_ids                  the wanted site ids (integer[]), or null: every site in the
--                              range (a long list is left to the judging's join with the
--                              limits: checking thousands of ids per row costs more than
--                              aggregating the few outlets not limited)
--   :parameter_lo, :parameter_hi, :parameter_ids   the same for the limited parameters and
--                              the O2 parameter (the list is short and always checked)
--   :start, :end               time window [start, end) (timestamptz)
--   :statistic                 the stored statistic to read ('avg')
--   :period                    'minute' (CN 2051) or 'hour' (CN 2061)
--   :min_count                 valid values an hour needs (45 of 60 minutes, HJ 76-2017
--                              Annex B; 1 for hourly input); below it the mean is null
-- Only flag N (or no / an empty flag) is valid (HJ 212-2017 Table 6), written as a chain of
-- equalities (cheaper than `in (…)` on text here). CHOICE: no isfinite(value) test, unlike
-- compliance_hourly.sql (which reads any frame): the store refuses NaN and infinite values
-- (Store.write_observations raises StoreInputError), so every value in obs is finite. h is the hour as whole hours since
-- 1970-01-01 UTC (µs // 3.6e9; times after 1970): integer grouping is an order of magnitude
-- cheaper than date_trunc on timestamptz, and UTC clock hours are the local hours of
-- whole-hour zones such as Asia/Shanghai.
-- The ranges matter beyond the scan: DuckDB derives each group key's span from them (the
-- site and parameter ranges, the hours of the window), and when the keys' spans fit the
-- connection's perfect_ht_threshold (bits) it aggregates into a directly indexed array (a
-- "perfect hash" group-by: no hashing, no probing) instead of a hash table. The caller sets
-- that threshold on a private cursor (shanshui.rules.compliance).
select site_id, parameter_id, h,
       count(v)::integer as n,
       case when count(v) >= :min_count then avg(v) end as mean
from (
    select o.site_id,
           o.parameter_id,
           epoch_us(o.time) // 3600000000 as h,
           case when o.flag = 'N' or o.flag is null or o.flag = '' then o.value end as v
    from obs o
    where o.site_id between cast(:site_lo as integer) and cast(:site_hi as integer)
      and (cast(:site_ids as integer[]) is null
           or list_contains(cast(:site_ids as integer[]), o.site_id))
      and o.parameter_id between cast(:parameter_lo as integer) and cast(:parameter_hi as integer)
      and list_contains(cast(:parameter_ids as integer[]), o.parameter_id)
      and o.statistic = cast(:statistic as text)
      and o.period = cast(:period as text)
      and o.time >= cast(:start as timestamptz)
      and o.time < cast(:end as timestamptz)
) minutes
group by site_id, parameter_id, h
