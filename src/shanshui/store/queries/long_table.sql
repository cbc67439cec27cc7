-- The canonical long table (shanshui.store.reading): readings of :sites in [start, end) with
-- one statistic and period, optionally restricted to :parameters. A reading stored without a
-- flag is returned as 'N' (HJ 212-2017: the Flag field is optional; no flag = normal).
select site, time, parameter, value, coalesce(flag, 'N') as flag
from observation
where site in (select unnest(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null
       or parameter in (select unnest(cast(:parameters as text[]))))
  and statistic = cast(:statistic as text)
  and period = cast(:period as text)
  and (cast(:start as timestamptz) is null or time >= cast(:start as timestamptz))
  and (cast(:end as timestamptz) is null or time < cast(:end as timestamptz))
order by site, parameter, time
