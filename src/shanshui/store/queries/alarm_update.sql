update alarm set
    state = :state, opened_at = :opened_at, closed_at = :closed_at, last_seen = :last_seen,
    hours = :hours, value = :value, threshold = :threshold, enterprise = :enterprise,
    permit = :permit, detail = cast(:detail as json), updated = :updated,
    acknowledged_by = :acknowledged_by, acknowledged_at = :acknowledged_at,
    ack_note = :ack_note, closed_by = :closed_by, close_note = :close_note
where site = :site and id = :id
