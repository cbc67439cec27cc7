-- The first and the last data time before :end of each outlet (site id; the offline rule;
-- see ../alarm_data_span.sql). PostgreSQL form: a min and a max over all of a site's readings
-- read every index entry of its history (obs's primary key leads with the site, the time is
-- its last column), years of minute data for an old outlet. Instead: walk the site's
-- distinct series (parameter, statistic, period) by the primary key, one probe each (a
-- "loose index scan", which PostgreSQL does not do by itself), and read the first and the
-- last time of each series before :end from the key's ends, one probe each.
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
select s.site_id, min(lo.time) as first_time, max(hi.time) as last_time
from series s
cross join lateral (
    select o.time from obs o
    where o.site_id = s.site_id and o.parameter_id = s.parameter_id
      and o.statistic = s.statistic and o.period = s.period
      and o.time < cast(:end as timestamptz)
    order by o.time
    limit 1
) lo
cross join lateral (
    select o.time from obs o
    where o.site_id = s.site_id and o.parameter_id = s.parameter_id
      and o.statistic = s.statistic and o.period = s.period
      and o.time < cast(:end as timestamptz)
    order by o.time desc
    limit 1
) hi
group by s.site_id
