-- shanshui store schema, version 1 (PostgreSQL). Keep in step with ../duckdb/0001_initial.sql:
-- the same tables, columns and keys; only the dialect differs (jsonb, identity column).
-- Every large table carries the site in its primary key (DESIGN §6: distribution key = site).
-- Codes compare byte-wise (collate "C", here and in the staging tables): they are ASCII, and
-- in a database whose default collation is a locale, locale-aware comparison would slow
-- every key probe and mixing the two collations in a join is an error.

-- Administrative regions, GB/T 2260 six-digit codes.
create table region (
    code   text collate "C" primary key,
    name    text not null,
    name_en text,
    level   text not null check (level in ('municipality', 'province', 'prefecture', 'county')),
    parent  text collate "C"
);

-- Monitoring sites of every kind. tz: the site's local zone, which defines its natural day.
create table site (
    code       text collate "C" primary key,
    name       text not null,
    kind       text not null check (kind in ('air', 'outlet', 'water', 'groundwater')),
    region     text collate "C",
    lon        double precision,
    lat        double precision,
    role       text not null default 'assessment' check (role in ('assessment', 'reference')),
    tz         text not null default 'Asia/Shanghai',
    attributes jsonb not null default '{}',
    updated    timestamptz not null
);

-- Measured quantities; the unit travels with the parameter (DESIGN §4).
create table parameter (
    code   text collate "C" primary key,
    name   text not null,
    unit   text not null,
    hj212  text
);

-- HJ 212 devices (data loggers) by MN. password_hash: "scrypt$n$r$p$salt$hash".
create table device (
    mn             text collate "C" primary key,
    status         text not null check (status in ('active', 'pending', 'disabled')),
    password_hash  text,
    protocol       text,
    site           text collate "C",
    first_seen     timestamptz,
    last_seen      timestamptz,
    last_peer      text,
    refused_logins bigint not null default 0,
    updated        timestamptz not null
);

-- Every reading, once (DESIGN §4 idempotence; §6 key).
create table observation (
    site      text collate "C" not null,
    parameter text collate "C" not null,
    statistic text collate "C" not null,
    period    text collate "C" not null,
    time      timestamptz not null,
    value     double precision not null,
    flag      text,
    received  timestamptz not null,
    source    text,
    primary key (site, parameter, statistic, period, time)
);

-- Daily aggregates of hourly values over the site's natural day, with their counts.
create table daily (
    site        text collate "C" not null,
    parameter   text collate "C" not null,
    statistic   text collate "C" not null,
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
    site text collate "C" not null,
    day  date not null,
    gen  bigint not null,
    primary key (site, day)
);

-- Who changed what, when, from which value to which, and why.
create table audit_log (
    id        bigint generated always as identity primary key,
    changed   timestamptz not null,
    actor     text not null,
    action    text not null,
    entity    text not null,
    site      text collate "C",
    key       text not null,
    old_value jsonb,
    new_value jsonb,
    reason    text
);
create index audit_log_site on audit_log (site, changed);
