-- shanshui store schema, version 3 (PostgreSQL): permits and alarms (issue 6, items 1 and 3).
-- Keep in step with ../duckdb/0003_permits_alarms.sql (same tables, columns and keys; only
-- jsonb and collate "C" differ). The permit's document (its JSON layout, docs/permits.md) is
-- the source of truth; permit_outlet, permit_limit and permit_total are an index of it,
-- rewritten with it in one transaction, that the rules and the API query. Tables that grow
-- with the number of outlets carry the site in their key (DESIGN §6).

-- Permit holders (排污单位).
create table permit_enterprise (
    id       text collate "C" primary key,
    name     text not null,
    region   text collate "C",
    industry text,
    address  text,
    updated  timestamptz not null
);

-- Permits: validity [valid_from, valid_to] (dates, both included) and the whole document.
create table permit (
    id         text collate "C" primary key,
    enterprise text collate "C" not null,
    valid_from date not null,
    valid_to   date not null,
    synthetic  boolean not null,
    document   jsonb not null,
    updated    timestamptz not null
);

-- Outlets under a permit, by their site (Site(kind='outlet')).
create table permit_outlet (
    site                text collate "C" not null,
    permit              text collate "C" not null,
    enterprise          text collate "C" not null,
    code                text not null,
    name                text not null,
    type                text not null,
    kind                text not null,
    mn                  text collate "C",
    reporting_interval_s integer not null,
    primary key (site, permit)
);

-- Permitted concentrations per outlet (site) and pollutant (HJ 212 code).
create table permit_limit (
    site         text collate "C" not null,
    parameter    text collate "C" not null,
    permit       text collate "C" not null,
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
    enterprise text collate "C" not null,
    parameter  text collate "C" not null,
    year       integer not null,
    permit     text collate "C" not null,
    tonnes     double precision not null,
    primary key (enterprise, parameter, year, permit)
);

create sequence alarm_id;

-- Alarms (shanshui.rules): one per episode of a condition; see shanshui/rules/__init__.py.
-- site: the outlet's site code (the enterprise id for enterprise-level rules).
create table alarm (
    site            text collate "C" not null,
    id              bigint not null default nextval('alarm_id'),
    rule            text collate "C" not null,
    parameter       text collate "C" not null,
    state           text not null check (state in ('open', 'acknowledged', 'closed')),
    opened_at       timestamptz not null,
    closed_at       timestamptz,
    last_seen       timestamptz not null,
    hours           integer not null,
    value           double precision,
    threshold       double precision,
    enterprise      text collate "C",
    permit          text collate "C",
    detail          jsonb,
    created         timestamptz not null,
    updated         timestamptz not null,
    acknowledged_by text,
    acknowledged_at timestamptz,
    ack_note        text,
    closed_by       text,
    close_note      text,
    primary key (site, id)
);
create index alarm_id_index on alarm (id);
create index alarm_state_index on alarm (state, site, rule, parameter);
