-- The events of one device, newest first (event time, then received); optionally those at
-- or after :since and of one :kind; at most :limit.
select site, mn, cn, kind, time, received, qn, fields
from device_event
where mn = cast(:mn as text)
  and (cast(:since as timestamptz) is null or time >= cast(:since as timestamptz))
  and (cast(:kind as text) is null or kind = cast(:kind as text))
order by time desc, received desc, cn, digest
limit :limit
