-- Silences longer than :min_gap seconds between consecutive data times of each outlet (site
-- id) in [start, end), counting from its last data time before :start (the offline rule; see
-- ../alarm_gaps.sql). PostgreSQL form: the last data time before :start comes from the ends
-- of the site's series by the primary key (the walk of postgres/alarm_data_span.sql), not
-- from a max over the site's whole history before the window.
with recursive series as (
    select k.site_id, f.parameter_id, f.statistic, f.period
    from unnest(cast(:site_ids as integer[])) as k (site_id)
    cross join lateral (
        select o.parameter_id, o.statistic, o.period
        from obs o
        where o.site_id = k.site_id
        order by o.parameter_id, o.statistic, o.period
        limit 1
    ) f
    union all
    select s.site_id, n.parameter_id, n.statistic, n.period
    from series s
    cross join lateral (
        select o.parameter_id, o.statistic, o.period
        from obs o
        where o.site_id = s.site_id
          and (o.parameter_id, o.statistic, o.period) > (s.parameter_id, s.statistic, s.period)
        order by o.parameter_id, o.statistic, o.period
        limit 1
    ) n
),
before as (
    select s.site_id, max(hi.time) as time
    from series s
    cross join lateral (
        select o.time from obs o
        where o.site_id = s.site_id and o.parameter_id = s.parameter_id
          and o.statistic = s.statistic and o.period = s.period
          and o.time < cast(:start as timestamptz)
        order by o.time desc
        limit 1
    ) hi
    group by s.site_id
),
times as (
    select distinct site_id, time from obs
    where site_id = any(cast(:site_ids as integer[]))
      and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
    union
    select site_id, time from before
),
steps as (
    select site_id, time, lag(time) over (partition by site_id order by time) as prev
    from times
)
select site_id, prev, time
from steps
where prev is not null and extract(epoch from (time - prev)) > cast(:min_gap as double precision)
