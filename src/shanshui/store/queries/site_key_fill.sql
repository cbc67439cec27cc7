-- Key the registered sites among :codes that have no integer key yet: a site inserted by a
-- path other than upsert_sites (a permit creating its outlets, permits.py) gets its key when
-- it is first written to or looked up. As site_key_insert.sql otherwise.
insert into site_key (code)
select code from site
where code in (select unnest(cast(:codes as text[])))
  and code not in (select code from site_key)
order by code
on conflict do nothing
