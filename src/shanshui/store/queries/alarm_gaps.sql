-- Silences longer than :min_gap seconds between consecutive data times of each outlet in
-- [start, end), counting from its last data time before :start (the offline rule).
with times as (
    select distinct site, time from observation
    where site in (select unnest(cast(:sites as text[])))
      and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
    union
    select site, max(time) as time from observation
    where site in (select unnest(cast(:sites as text[]))) and time < cast(:start as timestamptz)
    group by site
),
steps as (
    select site, time, lag(time) over (partition by site order by time) as prev from times
)
select site, prev, time
from steps
where prev is not null and extract(epoch from (time - prev)) > cast(:min_gap as double precision)
order by site, prev
