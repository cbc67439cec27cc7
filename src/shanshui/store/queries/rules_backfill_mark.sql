-- Note a back-fill for the rules job (migration 0006, after rules_mark.sql in the same
-- transaction): each site of the staged batch whose oldest reading is before :before, with
-- the gen rules_mark just gave its mark and that oldest data time.
insert into rules_backfill (site_id, gen, tmin)
select s.site_id, m.gen, min(s.time)
from stage_obs s
join rules_marks m on m.site_id = s.site_id
group by s.site_id, m.gen
having min(s.time) < cast(:before as timestamptz)
order by s.site_id
on conflict (site_id, gen) do nothing
