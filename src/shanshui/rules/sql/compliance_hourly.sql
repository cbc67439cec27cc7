-- Hourly compliance of outlets against their permit limits (shanshui.rules.compliance).
-- Reads the store's observation table and the registered Arrow table `compliance_limits`
-- (site, parameter, limit, reference_o2, basis). Named parameters:
--   :start, :end     time window [start, end) (timestamptz)
--   :statistic       the stored statistic to read ('avg')
--   :period          'minute' (CN 2051) or 'hour' (CN 2061)
--   :oxygen          the O2 parameter code (HJ 212 a19001)
--   :min_count       valid values an hour needs (45 of 60 minutes, HJ 76-2017 Annex B;
--                    1 for hourly input)
--   :o2_air, :o2_max the 21 % of the conversion and the 20.9 % guard (GB 13223-2011 §5.2)
-- Only flag N (or no flag) is valid (HJ 212-2017 Table 6). Hours are UTC clock hours (the
-- store's session zone), which are the local hours of every whole-hour zone (Asia/Shanghai).
with wanted as (
    select distinct site, parameter from compliance_limits
    union
    select distinct site, cast(:oxygen as text) as parameter
    from compliance_limits where basis = 'converted'
),
minutes as (
    select o.site, o.parameter,
           date_trunc('hour', o.time) as hour,
           case when coalesce(o.flag, 'N') = 'N' and isfinite(o.value) then o.value end as v
    from observation o
    semi join wanted w on o.site = w.site and o.parameter = w.parameter
    where o.statistic = cast(:statistic as text)
      and o.period = cast(:period as text)
      and o.time >= cast(:start as timestamptz)
      and o.time < cast(:end as timestamptz)
),
hourly as (
    select site, parameter, hour,
           count(v)::integer as n,
           case when count(v) >= :min_count then avg(v) end as mean
    from minutes
    group by site, parameter, hour
),
o2 as (
    select site, hour, mean as o2 from hourly where parameter = cast(:oxygen as text)
),
evaluated as (
    select h.site, h.parameter, h.hour, h.n, h.mean, o2.o2,
           l."limit", l.reference_o2, l.basis,
           case
               when l.basis = 'measured' then h.mean
               when o2.o2 >= :o2_max or o2.o2 < 0 then null
               else h.mean * (:o2_air - l.reference_o2) / (:o2_air - o2.o2)
           end as value
    from hourly h
    join compliance_limits l on h.site = l.site and h.parameter = l.parameter
    left join o2 on h.site = o2.site and h.hour = o2.hour
)
select site, parameter, hour, n as count, mean is not null as valid, mean,
       case when basis = 'converted' then o2 end as o2,
       reference_o2, basis, value, "limit",
       coalesce(value > "limit", false) as exceeded,
       value / "limit" as ratio,
       (value - "limit") / "limit" as excess_multiple
from evaluated
order by site, parameter, hour
