-- Key the registered parameters among :codes that have no integer key yet (see site_key_fill).
insert into parameter_key (code)
select code from parameter
where code in (select unnest(cast(:codes as text[])))
  and code not in (select code from parameter_key)
order by code
on conflict do nothing
