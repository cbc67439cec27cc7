-- The alarms with the given ids (the rules engine reads back what it saved).
select site, id, rule, parameter, state, opened_at, closed_at, last_seen, hours, value,
       threshold, enterprise, permit, detail, created, updated, acknowledged_by,
       acknowledged_at, ack_note, closed_by, close_note
from alarm
where id in (select unnest(cast(:ids as bigint[])))
