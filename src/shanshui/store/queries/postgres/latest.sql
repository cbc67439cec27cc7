-- The newest reading per site and parameter for one statistic and period: one backward
-- primary-key index probe per (site, parameter) pair instead of a scan of all readings.
select o.site, o.parameter, o.statistic, o.period, o.time, o.value, o.flag, o.received, o.source
from site s
cross join parameter p
cross join lateral (
    select * from observation x
    where x.site = s.code and x.parameter = p.code
      and x.statistic = cast(:statistic as text) and x.period = cast(:period as text)
    order by x.time desc
    limit 1
) o
where (cast(:sites as text[]) is null or s.code = any(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null or p.code = any(cast(:parameters as text[])))
order by o.site, o.parameter
