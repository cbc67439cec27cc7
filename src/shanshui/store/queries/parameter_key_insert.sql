-- Give each newly registered parameter its integer key (migration 0004); see site_key_insert.
insert into parameter_key (code)
select distinct code from stage_params
where code not in (select code from parameter_key)
order by code
on conflict do nothing
