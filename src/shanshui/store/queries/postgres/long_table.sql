-- The canonical long table (shanshui.store.reading), PostgreSQL form for COPY … TO STDOUT:
-- the time as integer microseconds since 1970-01-01 UTC so that the client parses no text
-- times. "= any(array)" rather than "in (select unnest(…))": without fresh statistics (right
-- after a bulk load) the planner turns the latter into a nested loop, 70x slower.
-- Otherwise as ../long_table.sql.
copy (
select site, cast(extract(epoch from time) * 1000000 as bigint) as time_us, parameter,
       value, coalesce(flag, 'N') as flag
from observation
where site = any(cast(:sites as text[]))
  and (cast(:parameters as text[]) is null or parameter = any(cast(:parameters as text[])))
  and statistic = cast(:statistic as text)
  and period = cast(:period as text)
  and (cast(:start as timestamptz) is null or time >= cast(:start as timestamptz))
  and (cast(:end as timestamptz) is null or time < cast(:end as timestamptz))
order by site, parameter, time
) to stdout (format csv)
