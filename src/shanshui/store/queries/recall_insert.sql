-- Ask a device for a range of its history (migrations 0008, 0009). The same request again
-- waits to be sent again (sent = null), with its new requester and reason, and starts afresh:
-- no QN, no attempts, no answers, not given up.
insert into device_recall (mn, cn, begin_time, end_time, requested, actor, reason, sent)
values (:mn, :cn, cast(:begin_time as timestamptz), cast(:end_time as timestamptz),
        cast(:requested as timestamptz), :actor, :reason, null)
on conflict (mn, cn, begin_time, end_time) do update
set requested = excluded.requested, actor = excluded.actor, reason = excluded.reason,
    sent = null, qn = null, attempts = 0, answered = null, qn_rtn = null, executed = null,
    exe_rtn = null, gave_up = null
