-- Ask again: the request waits for its device again (its connection closed before the
-- answers, or it answered with a code worth another try: :retry_qn_rtn, :retry_exe_rtn are
-- those codes as ',9,' and ',2,4,5,', shanshui.ingest.recalls); attempts and the answers of
-- that attempt are kept until the next send. By the request's key (see recall_answered.sql),
-- and only while the device has not ended it: no ExeRtn or one worth retrying, no QnRtn or
-- 1 or one worth retrying.
update device_recall set sent = null
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and gave_up is null
  and (exe_rtn is null
       or strpos(cast(:retry_exe_rtn as text), ',' || cast(exe_rtn as text) || ',') > 0)
  and (qn_rtn is null or qn_rtn = 1
       or strpos(cast(:retry_qn_rtn as text), ',' || cast(qn_rtn as text) || ',') > 0)
