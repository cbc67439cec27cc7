-- Sums of the hourly emission totals (statistic cou, period hour; kg per HJ 212-2017) per
-- outlet and pollutant (site and parameter ids) in [start, end) (the annual-total rule).
-- Reads obs by integer ids (migration 0004): a primary-key range per outlet and pollutant.
select site_id, parameter_id, sum(value) as total, count(*) as hours
from obs
where site_id = any(cast(:site_ids as integer[]))
  and parameter_id = any(cast(:parameter_ids as integer[]))
  and statistic = 'cou' and period = 'hour'
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by site_id, parameter_id
