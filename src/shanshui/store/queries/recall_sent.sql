-- A gateway sent a waiting history request to its device.
update device_recall set sent = cast(:sent as timestamptz)
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and sent is null
