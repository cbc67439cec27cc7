-- Mark the natural days touched by hourly means for recomputation (ordered: fixed lock order).
-- :site_ids and :days (same length) are the batch's distinct (site id, natural day) pairs
-- (shanshui.store.batch.natural_days), passed as two arrays: no staging table to fill for
-- a few hundred pairs; daily_dirty keeps the site's code.
insert into daily_dirty (site, day, gen)
select k.code, d.day, 1
from unnest(cast(:site_ids as integer[]), cast(:days as date[])) as d (site_id, day)
join site_key k on k.id = d.site_id
order by k.code, d.day
on conflict (site, day) do update set gen = daily_dirty.gen + 1
