-- A chunk of day marks to recompute, locked until this transaction's dirty_clear commits;
-- marks another process holds are skipped (DESIGN §6: several serve processes share one
-- PostgreSQL and each recomputes marked days). So no two processes recompute the same day,
-- and the clear deletes only rows this transaction holds: a writer marking one of them
-- (dirty_mark.sql, in key order) waits for the commit and never holds a row the clear
-- waits for (the two had deadlocked: review 16a, finding 4). A writer's mark of a day
-- already cleared inserts it anew (ON CONFLICT re-checks a row deleted meanwhile).
select site, day, gen from daily_dirty order by site, day limit :limit
for update skip locked
