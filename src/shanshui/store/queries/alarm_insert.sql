insert into alarm (site, rule, parameter, state, opened_at, closed_at, last_seen, hours, value,
                   threshold, enterprise, permit, detail, created, updated, acknowledged_by,
                   acknowledged_at, ack_note, closed_by, close_note)
values (:site, :rule, :parameter, :state, :opened_at, :closed_at, :last_seen, :hours, :value,
        :threshold, :enterprise, :permit, cast(:detail as json), :created, :updated,
        :acknowledged_by, :acknowledged_at, :ack_note, :closed_by, :close_note)
returning id
