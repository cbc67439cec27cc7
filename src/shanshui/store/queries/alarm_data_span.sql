-- The first and the last data time before :end of each outlet (site id; the offline rule:
-- the last one starts the current silence; the first one says whether the outlet sent
-- anything after its expectation anchor, the permit's start or its device's activation).
-- Reads obs by integer ids (migration 0004).
select site_id, min(time) as first_time, max(time) as last_time
from obs
where site_id = any(cast(:site_ids as integer[])) and time < cast(:end as timestamptz)
group by site_id
