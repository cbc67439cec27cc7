-- The newest reading per site and parameter for one statistic and period.
select distinct on (site, parameter)
       site, parameter, statistic, period, time, value, flag, received, source
from observation
where statistic = cast(:statistic as text) and period = cast(:period as text)
  and (cast(:sites as text[]) is null or site in (select unnest(cast(:sites as text[]))))
  and (cast(:parameters as text[]) is null
       or parameter in (select unnest(cast(:parameters as text[]))))
order by site, parameter, time desc
