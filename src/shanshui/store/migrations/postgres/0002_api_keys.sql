-- shanshui store schema, version 2 (PostgreSQL): API keys. Keep in step with
-- ../duckdb/0002_api_keys.sql.
-- A key is a random 256-bit token shown once to its holder; only its SHA-256 digest (hex) is
-- kept (shanshui.api.auth.hash_key). id: a short public name of the key (for listing and
-- revoking), never the token. revoked: when it was revoked (null: in force).
create table api_key (
    id      text collate "C" primary key,
    digest  text collate "C" not null unique,
    role    text not null check (role in ('operator', 'admin')),
    label   text not null,
    created timestamptz not null,
    revoked timestamptz
);
