-- Note a back-fill for the rules job (migration 0006, after rules_mark.sql in the same
-- transaction): each site of the staged batch whose oldest reading is before :before, with
-- the gen rules_mark just gave its mark and that oldest data time. One row per site: the
-- newest gen, and the oldest time of all its back-fills (CHOICE: a job that read an earlier
-- back-fill reads from that time again at the next one: more reading, nothing missed, and
-- the rules reach back a year at most).
insert into rules_backfill (site_id, gen, tmin)
select s.site_id, m.gen, min(s.time)
from stage_obs s
join rules_marks m on m.site_id = s.site_id
group by s.site_id, m.gen
having min(s.time) < cast(:before as timestamptz)
order by s.site_id
on conflict (site_id) do update
set gen = excluded.gen, tmin = least(rules_backfill.tmin, excluded.tmin)
