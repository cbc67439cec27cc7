-- The canonical long table (shanshui.store.reading), PostgreSQL form for COPY … TO STDOUT:
-- the time as integer microseconds since 1970-01-01 UTC so that the client parses no text
-- times. "= any(array)" rather than "in (select unnest(…))": without fresh statistics (right
-- after a bulk load) the planner turns the latter into a nested loop, 70x slower.
-- By integer ids (migration 0004): one primary-key range scan of obs per (site, parameter)
-- key pair (LATERAL), in code order, so the output needs no sort. Otherwise as
-- ../long_table.sql.
copy (
select k.code, cast(extract(epoch from o.time) * 1000000 as bigint) as time_us, p.code,
       o.value, coalesce(o.flag, 'N') as flag
from site_key k
cross join parameter_key p
cross join lateral (
    select x.time, x.value, x.flag from obs x
    where x.site_id = k.id and x.parameter_id = p.id
      and x.statistic = cast(:statistic as text)
      and x.period = cast(:period as text)
      and (cast(:start as timestamptz) is null or x.time >= cast(:start as timestamptz))
      and (cast(:end as timestamptz) is null or x.time < cast(:end as timestamptz))
    order by x.time
) o
where k.code = any(cast(:sites as text[]))
  and (cast(:parameters as text[]) is null or p.code = any(cast(:parameters as text[])))
order by k.code, p.code, o.time
) to stdout (format csv)
