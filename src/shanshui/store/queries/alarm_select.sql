-- Alarms by filters (each null: no filter); newest first. active_since: alarms not closed,
-- closed at or after that instant, or whose condition was seen then or later (last_seen: an
-- alarm closed by hand while its condition lasts, shanshui.rules.episodes). since: opened at
-- or after it.
select site, id, rule, parameter, state, opened_at, closed_at, last_seen, hours, value,
       threshold, enterprise, permit, detail, created, updated, acknowledged_by,
       acknowledged_at, ack_note, closed_by, close_note
from alarm
where (cast(:id as bigint) is null or id = cast(:id as bigint))
  and (cast(:states as text[]) is null or state in (select unnest(cast(:states as text[]))))
  and (cast(:sites as text[]) is null or site in (select unnest(cast(:sites as text[]))))
  and (cast(:rules as text[]) is null or rule in (select unnest(cast(:rules as text[]))))
  and (cast(:enterprise as text) is null or enterprise = cast(:enterprise as text))
  and (cast(:since as timestamptz) is null or opened_at >= cast(:since as timestamptz))
  and (cast(:active_since as timestamptz) is null or closed_at is null
       or closed_at >= cast(:active_since as timestamptz)
       or last_seen >= cast(:active_since as timestamptz))
order by opened_at desc, id desc
