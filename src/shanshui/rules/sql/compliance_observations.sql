-- The readings of one statistic and period as a long frame, for evaluating a DuckDB
-- connection's observation table with the Arrow engine (shanshui.rules.compliance).
select site, parameter, time, value, flag
from observation
where statistic = cast(:statistic as text)
  and period = cast(:period as text)
  and time >= cast(:start as timestamptz)
  and time < cast(:end as timestamptz)
