-- Mark the natural days touched by hourly means for recomputation (DuckDB form: unnest of two
-- lists in one select zips them; see ../dirty_mark.sql).
insert into daily_dirty (site, day, gen)
select k.code, d.day, 1
from (
    select unnest(cast(:site_ids as integer[])) as site_id,
           unnest(cast(:days as date[])) as day
) d
join site_key k on k.id = d.site_id
order by k.code, d.day
on conflict (site, day) do update set gen = daily_dirty.gen + 1
