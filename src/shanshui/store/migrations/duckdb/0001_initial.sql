-- shanshui store schema, version 1 (DuckDB). Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and keys; only the dialect differs (json, a sequence for the id).
-- Every large table carries the site in its primary key (DESIGN §6: distribution key = site).

-- Administrative regions, GB/T 2260 six-digit codes.
create table region (
    code   text primary key,
    name    text not null,
    name_en text,
    level   text not null check (level in ('municipality', 'province', 'prefecture', 'county')),
    parent  text
);

-- Monitoring sites of every kind. tz: the site's local zone, which defines its natural day.
create table site (
    code       text primary key,
    name       text not null,
    kind       text not null check (kind in ('air', 'outlet', 'water', 'groundwater')),
    region     text,
    lon        double precision,
    lat        double precision,
    role       text not null default 'assessment' check (role in ('assessment', 'reference')),
    tz         text not null default 'Asia/Shanghai',
    attributes json not null default '{}',
    updated    timestamptz not null
);

-- Measured quantities; the unit travels with the parameter (DESIGN §4).
create table parameter (
    code   text primary key,
    name   text not null,
    unit   text not null,
    hj212  text
);

-- HJ 212 devices (data loggers) by MN. password_hash: "scrypt$n$r$p$salt$hash".
create table device (
    mn             text primary key,
    status         text not null check (status in ('active', 'pending', 'disabled')),
    password_hash  text,
    protocol       text,
    site           text,
    first_seen     timestamptz,
    last_seen      timestamptz,
    last_peer      text,
    refused_logins bigint not null default 0,
    updated        timestamptz not null
);

-- Every reading, once (DESIGN §4 idempotence; §6 key). Unlike PostgreSQL, no PRIMARY KEY
-- constraint here: DuckDB's ART index made each insert about 6 times dearer (CPU, measured
-- with 7,000-row batches on 2 M rows) and grows its commits. The key is kept unique by the
-- write path instead (queries/duckdb/obs_insert.sql, an anti-join restricted to the batch's
-- time span, which row-group zone maps make cheap); one process holds a DuckDB file and the
-- store serialises its writes, so no other writer can race it.
create table observation (
    site      text not null,
    parameter text not null,
    statistic text not null,
    period    text not null,
    time      timestamptz not null,
    value     double precision not null,
    flag      text,
    received  timestamptz not null,
    source    text
);

-- Daily aggregates of hourly values over the site's natural day, with their counts.
create table daily (
    site        text not null,
    parameter   text not null,
    statistic   text not null,
    day         date not null,
    value       double precision,
    min         double precision,
    max         double precision,
    expected    integer not null,
    observed    integer not null,
    valid_count integer not null,
    valid       boolean not null,
    computed    timestamptz not null,
    primary key (site, parameter, statistic, day)
);

-- (site, day) whose daily aggregates must be recomputed; gen grows on every new mark.
create table daily_dirty (
    site text not null,
    day  date not null,
    gen  bigint not null,
    primary key (site, day)
);

create sequence audit_log_id;

-- Who changed what, when, from which value to which, and why.
create table audit_log (
    id        bigint primary key default nextval('audit_log_id'),
    changed   timestamptz not null,
    actor     text not null,
    action    text not null,
    entity    text not null,
    site      text,
    key       text not null,
    old_value json,
    new_value json,
    reason    text
);
create index audit_log_site on audit_log (site, changed);
