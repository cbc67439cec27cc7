-- Kinds of the sites :codes that exist.
select code, kind from site where code in (select unnest(cast(:codes as text[])))
