-- One device's history requests, newest first.
select mn, cn, begin_time, end_time, requested, actor, reason, sent
from device_recall
where mn = :mn
order by requested desc, cn, begin_time
limit :limit
