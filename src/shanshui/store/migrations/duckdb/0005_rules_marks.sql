-- shanshui store schema, version 5 (DuckDB): the rules job's marks. Keep in step with
-- ../postgres/0005_rules_marks.sql (same table, columns and key).
-- Why: the incremental rules job (shanshui.rules.engine) asked "which outlets got readings
-- received after my watermark?", which read the whole of obs (no index on received) and
-- missed readings committed long after their received time (a journal replayed after an
-- outage). The write path now marks, in the writing transaction, every site whose readings
-- it inserted or corrected (queries/rules_mark.sql, one statement per batch), as it marks
-- the natural days of daily_dirty; each rules job reads every mark (rules_take.sql) and
-- evaluates the sites whose gen changed since it last read them.
-- Why not take and delete marks as daily_dirty's recomputation does: every rules job (one
-- per `shanshui serve` process; several may share a PostgreSQL) keeps in memory the data
-- times of the outlets it judges offline, and must see every change, not only the ones
-- another job left it. Nothing deletes a mark, so the table has one row per site that ever
-- had a reading (thousands at most: a small read per run, no contention with writers).

-- One row per site (DESIGN §6: the site leads the key). gen: raised by every write that
-- inserted or corrected readings of the site (a job remembers the gen it read; a new one
-- means "read again"; a write committed while a job evaluates leaves a gen it has not
-- seen). tmax: the newest data time among the marked readings (a job reads the site again
-- at every run until tmax is inside its window: readings labelled ahead of its clock).
create table if not exists rules_marks (
    site_id integer primary key,
    gen     bigint not null,
    tmax    timestamptz not null
);
