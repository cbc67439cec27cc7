-- The first and the last data time before :end of each outlet (the offline rule: the last
-- one starts the current silence; the first one says whether the outlet sent anything after
-- its expectation anchor, the permit's start or its device's activation).
select site, min(time) as first_time, max(time) as last_time
from observation
where site in (select unnest(cast(:sites as text[]))) and time < cast(:end as timestamptz)
group by site
order by site
