-- Mark the natural days touched by hourly means for recomputation (ordered: fixed lock order).
insert into daily_dirty (site, day, gen)
select site, day, 1 from (select distinct site, day from stage_obs where day is not null) d
order by site, day
on conflict (site, day) do update set gen = daily_dirty.gen + 1
