-- Give up the request: its last attempt was not answered (or answered with a code worth
-- another try, or cut after QnRtn=1) and no attempt is left. By the request's key and only
-- while the device has not ended it, as recall_again.sql.
update device_recall set gave_up = cast(:at as timestamptz)
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and gave_up is null
  and (exe_rtn is null
       or strpos(cast(:retry_exe_rtn as text), ',' || cast(exe_rtn as text) || ',') > 0)
  and (qn_rtn is null or qn_rtn = 1
       or strpos(cast(:retry_qn_rtn as text), ',' || cast(qn_rtn as text) || ',') > 0)
