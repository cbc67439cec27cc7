-- Outlets whose readings changed since the rules job's last run (its incremental
-- evaluation, shanshui.rules.engine): readings received after :since (new ones and
-- corrections: a correction sets received), and readings labelled in [:t0, :t1) (the
-- hours that entered the evaluated window since the last run, whatever their received
-- time). received is the newest received time of the outlet's readings after :since (null
-- on the second branch); the caller keeps the largest as its next :since.
select site, max(received) as received
from observation
where received > cast(:since as timestamptz)
group by site
union all
select site, cast(null as timestamptz) as received
from observation
where time >= cast(:t0 as timestamptz) and time < cast(:t1 as timestamptz)
group by site
