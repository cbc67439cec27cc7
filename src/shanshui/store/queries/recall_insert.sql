-- Ask a device for a range of its history (migration 0008). The same request again waits
-- to be sent again (sent = null), with its new requester and reason.
insert into device_recall (mn, cn, begin_time, end_time, requested, actor, reason, sent)
values (:mn, :cn, cast(:begin_time as timestamptz), cast(:end_time as timestamptz),
        cast(:requested as timestamptz), :actor, :reason, null)
on conflict (mn, cn, begin_time, end_time) do update
set requested = excluded.requested, actor = excluded.actor, reason = excluded.reason,
    sent = null
