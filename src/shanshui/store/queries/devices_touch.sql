-- Sightings of devices (batched by the gateway, one row per MN): a newer sighting wins.
update device
set last_seen = t.seen, last_peer = t.peer, first_seen = coalesce(device.first_seen, t.seen)
from stage_touch t
where device.mn = t.mn and (device.last_seen is null or device.last_seen < t.seen)
