-- The rules engine's update of one alarm (shanshui.rules): what the data say, never undoing
-- an operator's hand meanwhile — an alarm closed by hand stays closed as it was, an
-- acknowledged one that is not closed stays acknowledged (the operator's fields are not set).
update alarm set
    opened_at = :opened_at, last_seen = :last_seen, hours = :hours, value = :value,
    threshold = :threshold, enterprise = :enterprise, permit = :permit,
    detail = cast(:detail as json), updated = :updated,
    state = case
        when state = 'closed' and coalesce(closed_by, 'rules') <> 'rules' then state
        when cast(:state as text) = 'closed' then 'closed'
        when acknowledged_by is not null then 'acknowledged'
        else 'open'
    end,
    closed_at = case
        when state = 'closed' and coalesce(closed_by, 'rules') <> 'rules' then closed_at
        else cast(:closed_at as timestamptz)
    end,
    close_note = case
        when state = 'closed' and coalesce(closed_by, 'rules') <> 'rules' then close_note
        else cast(:close_note as text)
    end,
    closed_by = case
        when state = 'closed' and coalesce(closed_by, 'rules') <> 'rules' then closed_by
        else cast(:closed_by as text)
    end
where site = :site and id = :id
