-- Mark the sites whose readings a batch inserted or corrected, for the rules job
-- (migration 0005; shanshui.rules.engine). :site_ids and :tmaxs (same length) are the
-- batch's distinct site ids and each one's newest data time, passed as two arrays: one
-- statement per batch, no per-row work. Ordered by site id: a fixed lock order between
-- concurrent writers. A mark that exists gets a new gen (a job that read the old one reads
-- the site again) and keeps the newer tmax.
insert into rules_marks (site_id, gen, tmax)
select m.site_id, 1, m.tmax
from unnest(cast(:site_ids as integer[]), cast(:tmaxs as timestamptz[])) as m (site_id, tmax)
order by m.site_id
on conflict (site_id) do update
set gen = rules_marks.gen + 1, tmax = greatest(rules_marks.tmax, excluded.tmax)
