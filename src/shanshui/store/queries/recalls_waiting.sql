-- The history requests not sent yet, oldest first (what the gateways hand to devices).
select mn, cn, begin_time, end_time, requested, actor, reason, sent, qn, attempts,
       answered, qn_rtn, executed, exe_rtn, gave_up
from device_recall
where sent is null and gave_up is null
order by requested, mn, cn, begin_time
limit :limit
