-- shanshui store schema, version 7 (PostgreSQL): device events. Keep in step with
-- ../duckdb/0007_device_events.sql (same table, columns and key).
-- Why: the gateway acknowledged and dropped every message of a data logger that is not data
-- (HJ 212-2017 Table C.1: 2021 equipment running state, 2041 equipment run time, 2081
-- data-logger restart, 3015/3019/3020 sample retention, instrument id and site/instrument
-- information, 1013 clock-calibration request; HJ/T 212-2005: 2072 alarm event), while an
-- acknowledged message must never be lost (DESIGN §5) and operators need them (was the
-- analyser calibrating, when did the logger restart, which instrument is installed).
-- One row per event (shanshui.store.events): site ('' for a device without one: the key
-- leads with the site, DESIGN §6), MN, CN, kind (state, runtime, restart, info, alarm,
-- clock), time (the event's own time, UTC), digest (SHA-256 of the canonical JSON of the
-- fields: the key tells a resend from another message of the same time), received, the QN
-- of the first copy received, and the CP's fields as JSON text, as sent (text, not jsonb:
-- jsonb would reorder the keys).
create table if not exists device_event (
    site     text collate "C" not null,
    mn       text collate "C" not null,
    cn       text collate "C" not null,
    kind     text not null check (kind in ('state', 'runtime', 'restart', 'info', 'alarm', 'clock')),
    time     timestamptz not null,
    digest   text collate "C" not null,
    received timestamptz not null,
    qn       text,
    fields   text not null,
    primary key (site, mn, cn, time, digest)
);
-- The faces read one device's events, newest first.
create index if not exists device_event_mn on device_event (mn, time);
