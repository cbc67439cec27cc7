-- A frame from an MN that is not registered: list it as pending for an operator; a known
-- device (active or disabled) keeps its status.
insert into device (mn, status, protocol, first_seen, last_seen, last_peer, refused_logins,
                    updated)
values (:mn, 'pending', :protocol, cast(:seen as timestamptz), cast(:seen as timestamptz), :peer,
        0, cast(:seen as timestamptz))
on conflict (mn) do update
set last_seen = excluded.last_seen, last_peer = excluded.last_peer,
    protocol = coalesce(excluded.protocol, device.protocol)
where device.status = 'pending'
