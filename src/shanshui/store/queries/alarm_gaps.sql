-- Silences longer than :min_gap seconds between consecutive data times of each outlet (site
-- id) in [start, end), counting from its last data time before :start (the offline rule).
-- Reads obs by integer ids (migration 0004). The last data times before :start come as two
-- arrays (:prev_site_ids, :prev_times), from alarm_data_span (on PostgreSQL read from the
-- ends of each site's series by the primary key, not its whole history before the window);
-- two unnests in one select list zip them in both dialects.
with times as (
    select distinct site_id, time from obs
    where site_id = any(cast(:site_ids as integer[]))
      and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
    union
    select unnest(cast(:prev_site_ids as integer[])) as site_id,
           unnest(cast(:prev_times as timestamptz[])) as time
),
steps as (
    select site_id, time, lag(time) over (partition by site_id order by time) as prev
    from times
)
select site_id, prev, time
from steps
where prev is not null and extract(epoch from (time - prev)) > cast(:min_gap as double precision)
