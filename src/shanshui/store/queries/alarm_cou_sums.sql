-- Sums of the hourly emission totals (statistic cou, period hour; kg per HJ 212-2017) per
-- outlet and pollutant in [start, end) (the annual-total rule).
select site, parameter, sum(value) as total, count(*) as hours
from observation
where site in (select unnest(cast(:sites as text[])))
  and parameter in (select unnest(cast(:parameters as text[])))
  and statistic = 'cou' and period = 'hour'
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by site, parameter
order by site, parameter
