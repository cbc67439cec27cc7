-- The gateway shut down (a graceful restart) while the request was in progress: it waits
-- again and the attempt it was sent with is given back (the gateway cut it, not the
-- device). By the request's key and only while sent and not ended by the device, as
-- recall_again.sql.
update device_recall set sent = null, attempts = greatest(attempts - 1, 0)
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and gave_up is null and sent is not null
  and (exe_rtn is null
       or strpos(cast(:retry_exe_rtn as text), ',' || cast(exe_rtn as text) || ',') > 0)
  and (qn_rtn is null or qn_rtn = 1
       or strpos(cast(:retry_qn_rtn as text), ',' || cast(qn_rtn as text) || ',') > 0)
