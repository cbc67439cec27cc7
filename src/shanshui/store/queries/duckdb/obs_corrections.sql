-- Staged readings that differ from the stored reading with the same key: corrections, by
-- ids (the caller maps them back to codes for the audit log), each with whether it applies:
-- a reading that arrived before the stored one is stale and replaces nothing (the rule and
-- its reasons: ../postgres/obs_corrections.sql); obs_update.sql applies the others.
-- [:tmin, :tmax], [:smin, :smax]: the batch's time and site-id spans (see obs_insert.sql).
select s.site_id, s.parameter_id, s.statistic, s.period, s.time, o.value, o.flag, s.value,
       s.flag, s.received >= o.received
from stage_obs s
join obs o
  on o.site_id = s.site_id and o.parameter_id = s.parameter_id and o.statistic = s.statistic
 and o.period = s.period and o.time = s.time
where o.time >= cast(:tmin as timestamptz) and o.time <= cast(:tmax as timestamptz)
  and o.site_id >= cast(:smin as integer) and o.site_id <= cast(:smax as integer)
  and (o.value <> s.value or o.flag is distinct from s.flag)
