-- shanshui store schema, version 4 (DuckDB): readings keyed by integer site and parameter ids.
-- Keep in step with ../postgres/0004_integer_keys.sql (same tables, columns and keys; only
-- the primary key of obs differs, as observation's did, see 0001_initial.sql).
-- Why: the text keys dominated the cost of every scan and write of the readings (reading
-- site, parameter and flag as text was 4 of 8 CPU-s of bench/compliance.py's 57.6 M rows;
-- the write path hashed and compared the codes of every staged row). A site's or
-- parameter's code maps to a small integer once, here, and the readings carry the integer.

-- Integer keys of sites and parameters. A code gets its id when it is first registered
-- (upsert_sites / upsert_parameters) and keeps it for ever: sites and parameters are never
-- deleted or renamed, so the ids are stable across reopening and migrating. Ids come from a
-- sequence and may have gaps; nothing reads meaning into their values.
create sequence site_key_id;
create sequence parameter_key_id;
create table site_key (
    code text primary key,
    id   integer not null unique default nextval('site_key_id')
);
create table parameter_key (
    code text primary key,
    id   integer not null unique default nextval('parameter_key_id')
);

-- Every registered site and parameter gets its key row now (in code order, so a migrated
-- store numbers them the same way every time). Readings exist only for registered codes
-- (the write path refuses others), but codes found among the readings are keyed too, so
-- that the copy below can lose no row even in a store written by hand.
insert into site_key (code)
select code from (select code from site union select distinct site from observation) c
order by code;
insert into parameter_key (code)
select code from (select code from parameter union select distinct parameter from observation) c
order by code;

-- Every reading, once (DESIGN §4 idempotence), by integer keys; the site (site_id) leads the
-- key as in every large table (DESIGN §6: distribution key = site). As for observation in
-- 0001_initial.sql, no PRIMARY KEY constraint: DuckDB's ART index made each insert about six
-- times dearer; the write path keeps the key unique (queries/duckdb/obs_insert.sql, an
-- anti-join restricted to the batch's time and site-id spans, which zone maps make cheap).
create table obs (
    site_id      integer not null,
    parameter_id integer not null,
    statistic    text not null,
    period       text not null,
    time         timestamptz not null,
    value        double precision not null,
    flag         text,
    received     timestamptz not null,
    source       text
);

-- Copy the readings in their stored order (the order the writers appended them, mostly by
-- time), so that the time zone maps that make the write path's anti-join cheap stay tight.
insert into obs (site_id, parameter_id, statistic, period, time, value, flag, received, source)
select s.id, p.id, o.statistic, o.period, o.time, o.value, o.flag, o.received, o.source
from observation o
join site_key s on s.code = o.site
join parameter_key p on p.code = o.parameter
order by o.rowid;

drop table observation;

-- The readings by codes, as the table observation was: every reader of observation keeps
-- working unchanged; hot readers (store/reading.py, latest, daily_upsert) read obs by ids.
create view observation as
select s.code as site, p.code as parameter, o.statistic, o.period, o.time, o.value, o.flag,
       o.received, o.source
from obs o
join site_key s on s.id = o.site_id
join parameter_key p on p.id = o.parameter_id;
