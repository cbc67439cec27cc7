-- How many staged readings differ from the stored reading of their key and arrived before
-- it (received): stale, they replace nothing (obs_corrections.sql); counted for the caller,
-- who says so (a gateway host whose clock runs behind the others' makes its corrections
-- stale: DESIGN §6 gateways on several hosts need synchronised clocks).
select count(*)
from stage_obs s
join obs o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where (o.value <> s.value or o.flag is distinct from s.flag)
  and s.received < o.received
