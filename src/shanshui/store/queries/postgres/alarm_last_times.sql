-- The last data time before :end of each outlet (site id; the offline rule; see
-- ../alarm_last_times.sql). PostgreSQL form: from the ends of the site's series by the
-- primary key (the walk of postgres/alarm_data_span.sql), not a max over its whole history.
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
)
select s.site_id, max(hi.time) as time
from series s
cross join lateral (
    select o.time from obs o
    where o.site_id = s.site_id and o.parameter_id = s.parameter_id
      and o.statistic = s.statistic and o.period = s.period
      and o.time < cast(:end as timestamptz)
    order by o.time desc
    limit 1
) hi
group by s.site_id
