-- Give each newly registered site its integer key (migration 0004); a code keeps the id it
-- has. The anti-join spares the sequence for codes already keyed; "on conflict do nothing"
-- covers a concurrent writer keying the same code first (PostgreSQL: no error, no collision).
insert into site_key (code)
select distinct code from stage_sites
where code not in (select code from site_key)
order by code
on conflict do nothing
