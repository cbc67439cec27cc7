-- shanshui store schema, version 4 (PostgreSQL): readings keyed by integer site and parameter
-- ids. Keep in step with ../duckdb/0004_integer_keys.sql (same tables, columns and keys; only
-- collate "C" and obs's primary key differ, as observation's did, see 0001_initial.sql).
-- Why: the text keys dominated the cost of every scan and write of the readings (reading
-- site, parameter and flag as text was 4 of 8 CPU-s of bench/compliance.py's 57.6 M rows),
-- and a five-column text primary key made every index probe compare strings. A site's or
-- parameter's code maps to a small integer once, here, and the readings carry the integer.

-- Integer keys of sites and parameters. A code gets its id when it is first registered
-- (upsert_sites / upsert_parameters, "on conflict do nothing", so gateways registering the
-- same code at once cannot collide) and keeps it for ever: sites and parameters are never
-- deleted or renamed. Ids come from a sequence and may have gaps (a lost race burns one).
create sequence site_key_id as integer;
create sequence parameter_key_id as integer;
create table site_key (
    code text collate "C" primary key,
    id   integer not null unique default nextval('site_key_id')
);
create table parameter_key (
    code text collate "C" primary key,
    id   integer not null unique default nextval('parameter_key_id')
);
alter sequence site_key_id owned by site_key.id;
alter sequence parameter_key_id owned by parameter_key.id;

-- Every registered site and parameter gets its key row now, in code order. Readings exist
-- only for registered codes (the write path refuses others), but codes found among the
-- readings are keyed too, so that the copy below can lose no row.
insert into site_key (code)
select code from (select code from site union select site from observation) c
order by code;
insert into parameter_key (code)
select code from (select code from parameter union select parameter from observation) c
order by code;

-- Every reading, once (DESIGN §4 idempotence): the primary key is the reading's key by
-- integer ids, the site first (DESIGN §6: distribution key = site). The write path merges
-- with "on conflict" on it (queries/postgres/obs_insert.sql).
create table obs (
    site_id      integer not null,
    parameter_id integer not null,
    statistic    text collate "C" not null,
    period       text collate "C" not null,
    time         timestamptz not null,
    value        double precision not null,
    flag         text,
    received     timestamptz not null,
    source       text
);

-- Copy first, key after: building the index once over sorted rows is much cheaper than
-- growing it row by row.
insert into obs (site_id, parameter_id, statistic, period, time, value, flag, received, source)
select s.id, p.id, o.statistic, o.period, o.time, o.value, o.flag, o.received, o.source
from observation o
join site_key s on s.code = o.site
join parameter_key p on p.code = o.parameter;

alter table obs add primary key (site_id, parameter_id, statistic, period, time);

drop table observation;

-- The readings by codes, as the table observation was: every reader of observation keeps
-- working unchanged (a filter on the codes becomes a key lookup and a primary-key range
-- scan of obs); hot readers (store/reading.py, latest, daily_upsert) read obs by ids.
create view observation as
select s.code as site, p.code as parameter, o.statistic, o.period, o.time, o.value, o.flag,
       o.received, o.source
from obs o
join site_key s on s.id = o.site_id
join parameter_key p on p.id = o.parameter_id;

analyze site_key;
analyze parameter_key;
analyze obs;
