-- Staged readings that differ from the stored reading with the same key: corrections, by
-- ids (the caller maps them back to codes for the audit log).
-- DESIGN §4 "a later correction replaces it": later by arrival (received: the gateway's
-- journal time, or the time of the import or HTTP request), not by when a batch reaches the
-- store. Several gateways' journals drain in any order (DESIGN §6: a gateway lagging, or
-- replaying after a restart, behind another one that took the device's correction), so a
-- reading that arrived before the stored one is stale and replaces nothing. CHOICE: an equal
-- arrival time replaces (one journal record holds a key once; the batch's last row wins).
-- PostgreSQL: lock every stored row of a staged key (in key order, so two writers cannot
-- deadlock on them) until the transaction's update commits, then compare. A concurrent writer
-- correcting the same key waits, and this one audits the value it wrote (READ COMMITTED
-- re-reads a locked row once it is released); and a row that did not differ when compared
-- (a resend) cannot be changed by another writer before obs_update, which would then
-- overwrite that change unaudited (review 16a, finding 3): obs_update changes exactly the
-- rows returned here.
with stored as (
    select o.site_id, o.parameter_id, o.statistic, o.period, o.time, o.value, o.flag,
           o.received
    from stage_obs s
    join obs o
      on o.site_id = s.site_id and o.parameter_id = s.parameter_id
     and o.statistic = s.statistic and o.period = s.period and o.time = s.time
    order by o.site_id, o.parameter_id, o.statistic, o.period, o.time
    for update of o
)
select s.site_id, s.parameter_id, s.statistic, s.period, s.time, o.value, o.flag, s.value,
       s.flag
from stage_obs s
join stored o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where (o.value <> s.value or o.flag is distinct from s.flag)
  and s.received >= o.received
order by s.site_id, s.parameter_id, s.statistic, s.period, s.time
