-- bench/compliance.py's floor: what any evaluator on the store must do at the least — read
-- and decode the five columns the rules need (site_id, parameter_id, flag, time, value) of
-- the wanted parameters' rows of the day from the integer-keyed readings (table obs,
-- migration 0004), with no grouping, no judging and no result. Its cost bounds the ratio any
-- DuckDB-store evaluator can reach against the pandas baseline.
-- Named parameters: :parameter_ids (integer[]) and their :parameter_lo, :parameter_hi,
-- :statistic, :period, :start, :end (the filters of rules/sql/compliance_hourly_ids.sql).
select count(*) as n,
       sum(o.site_id) as site_ids,
       sum(o.parameter_id) as parameter_ids,
       sum(length(coalesce(o.flag, ''))) as flag_chars,
       max(o.time) as last,
       sum(o.value) as total
from obs o
where o.parameter_id between cast(:parameter_lo as integer) and cast(:parameter_hi as integer)
  and list_contains(cast(:parameter_ids as integer[]), o.parameter_id)
  and o.statistic = cast(:statistic as text)
  and o.period = cast(:period as text)
  and o.time >= cast(:start as timestamptz)
  and o.time < cast(:end as timestamptz)
