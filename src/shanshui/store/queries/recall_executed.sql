-- The device's 9012 execution result for the request (HJ 212-2017 Table 8: ExeRtn), the first
-- one of the attempt kept. Matched by the request's key, as recall_answered.sql.
update device_recall set executed = cast(:at as timestamptz), exe_rtn = :code
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and sent is not null and executed is null
