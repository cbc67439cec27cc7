-- Per outlet, data hour (UTC clock hour = Beijing hour) and flag: how many observations of
-- the hour carry the flag (no flag counts as N). For the flag rule (shanshui.rules).
select site, date_trunc('hour', time) as hour, coalesce(flag, 'N') as flag, count(*) as n
from observation
where site in (select unnest(cast(:sites as text[])))
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by site, date_trunc('hour', time), coalesce(flag, 'N')
order by site, hour, flag
