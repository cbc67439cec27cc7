-- Session staging tables for bulk loads (COPY); emptied at every commit. DuckDB registers
-- Arrow tables under the same names and columns instead (see shanshui.store.stages).
create temp table if not exists stage_obs (
    site text, parameter text, statistic text, period text, time timestamptz,
    value double precision, flag text, received timestamptz, source text, day date
) on commit delete rows;
create temp table if not exists stage_days (
    site text, day date, start_utc timestamptz, end_utc timestamptz, expected integer, gen bigint
) on commit delete rows;
create temp table if not exists stage_regions (
    code text, name text, name_en text, level text, parent text
) on commit delete rows;
create temp table if not exists stage_sites (
    code text, name text, kind text, region text, lon double precision, lat double precision,
    role text, tz text, attributes jsonb
) on commit delete rows;
create temp table if not exists stage_params (
    code text, name text, unit text, hj212 text
) on commit delete rows;
create temp table if not exists stage_devices (
    mn text, status text, password_hash text, protocol text, site text
) on commit delete rows;
create temp table if not exists stage_touch (
    mn text, seen timestamptz, peer text
) on commit delete rows;
create temp table if not exists stage_audit (
    changed timestamptz, actor text, action text, entity text, site text, key text,
    old_value jsonb, new_value jsonb, reason text
) on commit delete rows
