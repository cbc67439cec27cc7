-- The rules engine's update of many alarms in one statement (shanshui.rules), one array
-- element per alarm: what the data say, never undoing an operator's hand meanwhile — an
-- alarm closed by hand stays closed as it was, an acknowledged one that is not closed stays
-- acknowledged (the operator's fields are not set).
update alarm set
    opened_at = s.n_opened_at, last_seen = s.n_last_seen, hours = s.n_hours,
    value = s.n_value, threshold = s.n_threshold, enterprise = s.n_enterprise,
    permit = s.n_permit, detail = cast(s.n_detail as json),
    updated = cast(:updated as timestamptz),
    state = case
        when alarm.state = 'closed' and coalesce(alarm.closed_by, 'rules') <> 'rules'
            then alarm.state
        when s.n_state = 'closed' then 'closed'
        when alarm.acknowledged_by is not null then 'acknowledged'
        else 'open'
    end,
    closed_at = case
        when alarm.state = 'closed' and coalesce(alarm.closed_by, 'rules') <> 'rules'
            then alarm.closed_at
        else s.n_closed_at
    end,
    close_note = case
        when alarm.state = 'closed' and coalesce(alarm.closed_by, 'rules') <> 'rules'
            then alarm.close_note
        else s.n_close_note
    end,
    closed_by = case
        when alarm.state = 'closed' and coalesce(alarm.closed_by, 'rules') <> 'rules'
            then alarm.closed_by
        else s.n_closed_by
    end
from (
    select unnest(cast(:ids as bigint[])) as n_id,
           unnest(cast(:sites as text[])) as n_site,
           unnest(cast(:states as text[])) as n_state,
           unnest(cast(:opened_at as timestamptz[])) as n_opened_at,
           unnest(cast(:closed_at as timestamptz[])) as n_closed_at,
           unnest(cast(:last_seen as timestamptz[])) as n_last_seen,
           unnest(cast(:hours as integer[])) as n_hours,
           unnest(cast(:value as double precision[])) as n_value,
           unnest(cast(:threshold as double precision[])) as n_threshold,
           unnest(cast(:enterprise as text[])) as n_enterprise,
           unnest(cast(:permit as text[])) as n_permit,
           unnest(cast(:detail as text[])) as n_detail,
           unnest(cast(:close_note as text[])) as n_close_note,
           unnest(cast(:closed_by as text[])) as n_closed_by
) s
where alarm.site = s.n_site and alarm.id = s.n_id
