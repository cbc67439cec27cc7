-- Hourly compliance of outlets against their permit limits (shanshui.rules.compliance).
-- Reads the store's observation table and the registered Arrow table `compliance_limits`
-- (site, parameter, limit, reference_o2, basis). Named parameters:
--   :sites           the outlets of the limits table (text[]), or null: all outlets
--   :parameters      the limited parameters and the O2 parameter (text[])
--   :start, :end     time window [start, end) (timestamptz)
--   :statistic       the stored statistic to read ('avg')
--   :period          'minute' (CN 2051) or 'hour' (CN 2061)
--   :oxygen          the O2 parameter code (HJ 212 a19001)
--   :min_count       valid values an hour needs (45 of 60 minutes, HJ 76-2017 Annex B;
--                    1 for hourly input)
--   :o2_air, :o2_max the 21 % of the conversion and the 20.9 % guard (GB 13223-2011 §5.2)
-- Only flag N (or no / an empty flag) is valid (HJ 212-2017 Table 6). Hours are UTC clock hours (the
-- store's session zone), which are the local hours of every whole-hour zone (Asia/Shanghai).
with minutes as (
    select o.site, o.parameter,
           -- the hour as an integer (µs since the epoch // 1 h): integer grouping is an order of
           -- magnitude cheaper than date_trunc on timestamptz (a calendar call per row)
           epoch_us(o.time) // 3600000000 as h,
           case when (o.flag is null or o.flag in ('N', '')) and isfinite(o.value) then o.value end
               as v
    from observation o
    -- list filters, not a semi join on (site, parameter) (`x = any(list)` and `in (select
    -- unnest(…))` are planned as hash joins, list_contains is a cheaper per-row function);
    -- a (site, parameter) read but not limited falls out at the join with the limits below.
    -- :sites is null for a large limits table (checking thousands of codes per row costs
    -- more than aggregating the few outlets not limited and dropping them at the join)
    where list_contains(cast(:parameters as text[]), o.parameter)
      and (cast(:sites as text[]) is null or list_contains(cast(:sites as text[]), o.site))
      and o.statistic = cast(:statistic as text)
      and o.period = cast(:period as text)
      and o.time >= cast(:start as timestamptz)
      and o.time < cast(:end as timestamptz)
),
hourly as (
    select site, parameter, h,
           count(v)::integer as n,
           case when count(v) >= :min_count then avg(v) end as mean
    from minutes
    group by site, parameter, h
),
o2 as (
    select site, h, mean as o2 from hourly where parameter = cast(:oxygen as text)
),
evaluated as (
    select hr.site, hr.parameter, to_timestamp(hr.h * 3600) as hour, hr.n, hr.mean, o2.o2,
           l."limit", l.reference_o2, l.basis,
           case
               when l.basis = 'measured' then hr.mean
               when o2.o2 >= :o2_max or o2.o2 < 0 then null
               else hr.mean * (:o2_air - l.reference_o2) / (:o2_air - o2.o2)
           end as value
    from hourly hr
    join compliance_limits l on hr.site = l.site and hr.parameter = l.parameter
    left join o2 on hr.site = o2.site and hr.h = o2.h
)
select site, parameter, hour, n as count, mean is not null as valid, mean,
       case when basis = 'converted' then o2 end as o2,
       reference_o2, basis, value, "limit",
       coalesce(value > "limit", false) as exceeded,
       value / "limit" as ratio,
       (value - "limit") / "limit" as excess_multiple
from evaluated
-- no order by: sorting 10⁶ rows on two strings costs as much as the joins; the caller sorts
-- when it needs to (evaluate_hours(sort=True))
