-- Forget the marks that were recomputed, unless a writer marked the day again meanwhile.
delete from daily_dirty
where exists (
    select 1 from stage_days s
    where s.site = daily_dirty.site and s.day = daily_dirty.day and s.gen = daily_dirty.gen
)
