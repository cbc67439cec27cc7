-- Mark the natural days touched by hourly means for recomputation (ordered: fixed lock order).
-- stage_dirty holds the batch's distinct (site id, natural day) pairs (shanshui.store.batch
-- .natural_days); daily_dirty keeps the site's code.
insert into daily_dirty (site, day, gen)
select k.code, d.day, 1
from stage_dirty d
join site_key k on k.id = d.site_id
order by k.code, d.day
on conflict (site, day) do update set gen = daily_dirty.gen + 1
