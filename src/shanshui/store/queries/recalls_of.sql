-- One device's history requests, newest first.
select mn, cn, begin_time, end_time, requested, actor, reason, sent, qn, attempts,
       answered, qn_rtn, executed, exe_rtn, gave_up
from device_recall
where mn = :mn
order by requested desc, cn, begin_time
limit :limit
