-- shanshui store schema, version 3 (DuckDB): permits and alarms (issue 6, items 1 and 3).
-- Keep in step with ../postgres/0003_permits_alarms.sql (same tables, columns and keys; only
-- json and the collation differ; no secondary indexes here: the tables are small). The
-- permit's document (its JSON layout, docs/permits.md) is the source of truth;
-- permit_outlet, permit_limit and permit_total are an index of it, rewritten with it in one
-- transaction, that the rules and the API query. Tables that grow
-- with the number of outlets carry the site in their key (DESIGN §6).

-- Permit holders (排污单位).
create table permit_enterprise (
    id       text primary key,
    name     text not null,
    region   text,
    industry text,
    address  text,
    updated  timestamptz not null
);

-- Permits: validity [valid_from, valid_to] (dates, both included) and the whole document.
create table permit (
    id         text primary key,
    enterprise text not null,
    valid_from date not null,
    valid_to   date not null,
    synthetic  boolean not null,
    document   json not null,
    updated    timestamptz not null
);

-- Outlets under a permit, by their site (Site(kind='outlet')).
create table permit_outlet (
    site                text not null,
    permit              text not null,
    enterprise          text not null,
    code                text not null,
    name                text not null,
    type                text not null,
    kind                text not null,
    mn                  text,
    reporting_interval_s integer not null,
    primary key (site, permit)
);

-- Permitted concentrations per outlet (site) and pollutant (HJ 212 code).
create table permit_limit (
    site         text not null,
    parameter    text not null,
    permit       text not null,
    unit         text not null,
    hourly       double precision,
    daily        double precision,
    converted    boolean not null,
    reference_o2 double precision,
    rate_kg_h    double precision,
    standard     text,
    primary key (site, parameter, permit)
);

-- Permitted annual totals per enterprise, pollutant and year [t/a].
create table permit_total (
    enterprise text not null,
    parameter  text not null,
    year       integer not null,
    permit     text not null,
    tonnes     double precision not null,
    primary key (enterprise, parameter, year, permit)
);

create sequence alarm_id;

-- Alarms (shanshui.rules): one per episode of a condition; see shanshui/rules/__init__.py.
-- site: the outlet's site code (the enterprise id for enterprise-level rules).
create table alarm (
    site            text not null,
    id              bigint not null default nextval('alarm_id'),
    rule            text not null,
    parameter       text not null,
    state           text not null check (state in ('open', 'acknowledged', 'closed')),
    opened_at       timestamptz not null,
    closed_at       timestamptz,
    last_seen       timestamptz not null,
    hours           integer not null,
    value           double precision,
    threshold       double precision,
    enterprise      text,
    permit          text,
    detail          json,
    created         timestamptz not null,
    updated         timestamptz not null,
    acknowledged_by text,
    acknowledged_at timestamptz,
    ack_note        text,
    closed_by       text,
    close_note      text,
    primary key (site, id)
);
