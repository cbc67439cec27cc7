-- The migrations applied to this database, one row each.
create table if not exists schema_version (
    version integer primary key,
    name    text not null,
    applied timestamptz not null
)
