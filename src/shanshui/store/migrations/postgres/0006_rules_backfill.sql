-- shanshui store schema, version 6 (PostgreSQL): back-fills for the rules job. Keep in step with
-- ../duckdb/0006_rules_backfill.sql (same table, columns and key).
-- Why: the rules job reads each outlet over a look-back window (2 days by default), and the
-- marks of version 5 say that a site changed, not how far back. History uploaded after an
-- outage longer than the window was never judged.
-- Back-fills: a write whose oldest reading is more than a day old (BACKFILL_AGE of
-- shanshui.store.writing: a device uploading its history after an outage, a late import)
-- keeps, per site, the gen its mark got and the oldest data time back-filled, so that a rules
-- job whose look-back window does not reach that far reads the site from there once
-- (shanshui.rules.engine: a job reads the sites whose gen here it has not seen). One row per
-- site, like rules_marks: every rules run reads them all, so the table must not grow with
-- the writes (a replay writes a back-fill per batch).
create table if not exists rules_backfill (
    site_id integer primary key,
    gen     bigint not null,
    tmin    timestamptz not null
);
