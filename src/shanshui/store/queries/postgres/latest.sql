-- The newest reading per site and parameter for one statistic and period: one backward
-- primary-key index probe of obs per (site, parameter) pair (integer ids, migration 0004)
-- instead of a scan of all readings.
select s.code, p.code, o.statistic, o.period, o.time, o.value, o.flag, o.received, o.source
from site_key s
cross join parameter_key p
cross join lateral (
    select * from obs x
    where x.site_id = s.id and x.parameter_id = p.id
      and x.statistic = cast(:statistic as text) and x.period = cast(:period as text)
    order by x.time desc
    limit 1
) o
where (cast(:sites as text[]) is null or s.code = any(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null or p.code = any(cast(:parameters as text[])))
order by s.code, p.code
