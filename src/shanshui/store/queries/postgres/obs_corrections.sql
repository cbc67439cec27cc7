-- Corrections: staged readings that differ from the stored reading of their key, by ids (the
-- caller maps them to codes for the audit log), each with whether it applies.
-- DESIGN §4 "a later correction replaces it": later by arrival (received: the gateway's
-- journal time, or the time of the import or HTTP request), not by when a batch reaches the
-- store. Several gateways' journals drain in any order (DESIGN §6: a gateway lagging, or
-- replaying after a restart, behind another one that took the device's correction), so a
-- reading that arrived before the stored one is stale: it replaces nothing and is returned
-- with applies = false (counted, not audited). CHOICE: an equal arrival time replaces (one
-- journal record holds a key once; the batch's last row wins).
-- PostgreSQL: lock the rows that apply (in key order, so two writers cannot deadlock on them)
-- until the transaction commits; a concurrent writer correcting the same key waits, and this
-- one compares with and audits the value it wrote (READ COMMITTED re-reads a locked row once
-- it is released). postgres/obs_update.sql then updates exactly the keys returned here
-- (locked: unchanged since), so a row not locked here (a resend) is not updated either and
-- another writer's change of it is never overwritten unaudited (review 16a, finding 3), and
-- a resend takes no lock and writes nothing (review 17, finding 3). The update is a statement
-- of its own: a row version another writer committed after this statement began is not
-- visible to an update inside it (review 18, finding 1).
with applying as (
    select s.site_id, s.parameter_id, s.statistic, s.period, s.time, o.value as old_value,
           o.flag as old_flag, s.value, s.flag
    from stage_obs s
    join obs o
      on o.site_id = s.site_id and o.parameter_id = s.parameter_id
     and o.statistic = s.statistic and o.period = s.period and o.time = s.time
    where (o.value <> s.value or o.flag is distinct from s.flag)
      and s.received >= o.received
    order by s.site_id, s.parameter_id, s.statistic, s.period, s.time
    for update of o
)
select site_id, parameter_id, statistic, period, time, old_value, old_flag, value, flag, true
from applying
union all
select s.site_id, s.parameter_id, s.statistic, s.period, s.time, o.value, o.flag, s.value,
       s.flag, false
from stage_obs s
join obs o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where (o.value <> s.value or o.flag is distinct from s.flag)
  and s.received < o.received
