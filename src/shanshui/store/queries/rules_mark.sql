-- Mark the sites whose readings a batch inserted or corrected, for the rules job
-- (migration 0005; shanshui.rules.engine): each distinct site id of the staged batch with its
-- newest data time, one statement per batch. Grouped here, over the rows the write path has
-- staged anyway: passing the ids and times as two array parameters after an Arrow group-by
-- cost more (DuckDB, batches of 100 sites × 10 rows with their commit: 11.0 ms against 9.0
-- ms, most of it DuckDB's "on conflict"). Ordered by site id: a fixed lock order
-- between concurrent writers. A mark that exists gets a new gen (a job that read the old
-- one reads the site again) and keeps the newer tmax.
insert into rules_marks (site_id, gen, tmax)
select site_id, 1, max(time)
from stage_obs
group by site_id
order by site_id
on conflict (site_id) do update
set gen = rules_marks.gen + 1, tmax = greatest(rules_marks.tmax, excluded.tmax)
