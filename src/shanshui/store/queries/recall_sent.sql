-- A gateway sent a waiting history request to its device (one attempt more).
update device_recall set sent = cast(:sent as timestamptz), attempts = attempts + 1
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and sent is null
