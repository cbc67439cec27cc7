-- Session staging tables for bulk loads (COPY); emptied at every commit. DuckDB registers
-- Arrow tables under the same names and columns instead (see shanshui.store.sqlstore).
-- Codes collate "C" like the columns they meet (see migrations/postgres/0001_initial.sql).
-- stage_obs: readings by integer site and parameter ids (migration 0004).
create temp table if not exists stage_obs (
    site_id integer, parameter_id integer, statistic text collate "C",
    period text collate "C", time timestamptz, value double precision, flag text,
    received timestamptz, source text
) on commit delete rows;
create temp table if not exists stage_days (
    site text collate "C", day date, start_utc timestamptz, end_utc timestamptz,
    expected integer, gen bigint
) on commit delete rows;
create temp table if not exists stage_regions (
    code text collate "C", name text, name_en text, level text, parent text collate "C"
) on commit delete rows;
create temp table if not exists stage_sites (
    code text collate "C", name text, kind text, region text collate "C",
    lon double precision, lat double precision, role text, tz text, attributes jsonb
) on commit delete rows;
create temp table if not exists stage_params (
    code text collate "C", name text, unit text, hj212 text
) on commit delete rows;
create temp table if not exists stage_devices (
    mn text collate "C", status text, password_hash text, protocol text, site text collate "C"
) on commit delete rows;
create temp table if not exists stage_touch (
    mn text collate "C", seen timestamptz, peer text
) on commit delete rows;
create temp table if not exists stage_audit (
    changed timestamptz, actor text, action text, entity text, site text collate "C",
    key text, old_value jsonb, new_value jsonb, reason text
) on commit delete rows;
-- stage_events: device events (migration 0007, shanshui.store.events).
create temp table if not exists stage_events (
    site text collate "C", mn text collate "C", cn text collate "C", kind text,
    time timestamptz, digest text collate "C", received timestamptz, qn text, fields text
) on commit delete rows
