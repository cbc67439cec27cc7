-- bench/compliance.py's floor: what any evaluator on the store must do at the least — read
-- and decode the five columns the rules need (site, parameter, flag, time, value) of the
-- wanted parameters' rows of the day, with no grouping, no judging and no result. Its cost
-- bounds the ratio any DuckDB-store evaluator can reach against the pandas baseline.
-- Named parameters: :parameters (text[]), :statistic, :period, :start, :end.
select count(*) as n,
       sum(length(site)) as site_chars,
       sum(length(parameter)) as parameter_chars,
       sum(length(coalesce(flag, ''))) as flag_chars,
       max(time) as last,
       sum(value) as total
from observation
where list_contains(cast(:parameters as text[]), parameter)
  and statistic = cast(:statistic as text)
  and period = cast(:period as text)
  and time >= cast(:start as timestamptz)
  and time < cast(:end as timestamptz)
