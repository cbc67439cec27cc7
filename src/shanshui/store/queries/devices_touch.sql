-- Sightings of devices (batched by the gateway): newest time and peer win.
update device
set last_seen = t.seen, last_peer = t.peer, first_seen = coalesce(device.first_seen, t.seen)
from (select mn, max(seen) as seen, max(peer) as peer from stage_touch group by mn) t
where device.mn = t.mn and (device.last_seen is null or device.last_seen < t.seen)
