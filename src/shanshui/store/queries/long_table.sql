-- The canonical long table (shanshui.store.reading): readings of :sites in [start, end) with
-- one statistic and period, optionally restricted to :parameters. A reading stored without a
-- flag is returned as 'N' (HJ 212-2017: the Flag field is optional; no flag = normal).
-- Reads obs by integer ids (migration 0004): the codes select a handful of key rows, and
-- the scan of obs filters and joins on integers (DuckDB pushes the joined ids into the scan
-- as a filter, so row groups of other sites are skipped); only the output carries codes.
select k.code as site, o.time, p.code as parameter, o.value, coalesce(o.flag, 'N') as flag
from obs o
join site_key k on k.id = o.site_id
join parameter_key p on p.id = o.parameter_id
where k.code in (select unnest(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null
       or p.code in (select unnest(cast(:parameters as text[]))))
  and o.statistic = cast(:statistic as text)
  and o.period = cast(:period as text)
  and (cast(:start as timestamptz) is null or o.time >= cast(:start as timestamptz))
  and (cast(:end as timestamptz) is null or o.time < cast(:end as timestamptz))
order by k.code, p.code, o.time
