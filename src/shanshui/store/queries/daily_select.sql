select site, parameter, statistic, day, value, min, max, expected, observed, valid_count, valid,
       computed
from daily
where site in (select unnest(cast(:sites as text[])))
  and (cast(:parameters as text[]) is null
       or parameter in (select unnest(cast(:parameters as text[]))))
  and (cast(:start as date) is null or day >= cast(:start as date))
  and (cast(:end as date) is null or day < cast(:end as date))
order by site, parameter, statistic, day
