-- Mark the sites whose readings a batch inserted or corrected (DuckDB form: unnest of two
-- lists in one select zips them; see ../rules_mark.sql).
insert into rules_marks (site_id, gen, tmax)
select m.site_id, 1, m.tmax
from (
    select unnest(cast(:site_ids as integer[])) as site_id,
           unnest(cast(:tmaxs as timestamptz[])) as tmax
) m
order by m.site_id
on conflict (site_id) do update
set gen = rules_marks.gen + 1, tmax = greatest(rules_marks.tmax, excluded.tmax)
