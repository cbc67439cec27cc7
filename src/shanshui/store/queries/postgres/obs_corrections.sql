-- Staged readings that differ from the stored reading with the same key: corrections.
-- PostgreSQL: lock the stored rows (in key order, so two writers cannot deadlock on them)
-- until the transaction's update commits, so a concurrent writer correcting the same key
-- waits and then audits the value this one wrote, not a stale one (READ COMMITTED re-reads
-- a locked row once it is released).
select s.site, s.parameter, s.statistic, s.period, s.time, o.value, o.flag, s.value, s.flag
from stage_obs s
join observation o
  on o.site = s.site and o.parameter = s.parameter and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where o.value <> s.value or o.flag is distinct from s.flag
order by s.site, s.parameter, s.statistic, s.period, s.time
for update of o
