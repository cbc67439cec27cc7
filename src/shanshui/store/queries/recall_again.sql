-- Ask again: the request sent with QN :qn waits for its device again (its connection closed
-- before the answers, or it answered with a code worth another try); attempts and the
-- answers of that attempt are kept until the next send.
update device_recall set sent = null
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and qn = :qn and gave_up is null
