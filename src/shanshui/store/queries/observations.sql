-- Readings of :sites in [start, end), optionally restricted by parameter, statistic, period.
select site, parameter, statistic, period, time, value, flag, received, source
from observation
where site in (select unnest(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null
       or parameter in (select unnest(cast(:parameters as text[]))))
  and (cast(:statistic as text) is null or statistic = cast(:statistic as text))
  and (cast(:period as text) is null or period = cast(:period as text))
  and (cast(:start as timestamptz) is null or time >= cast(:start as timestamptz))
  and (cast(:end as timestamptz) is null or time < cast(:end as timestamptz))
order by site, parameter, statistic, period, time
