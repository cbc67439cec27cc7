-- Give up the request sent with QN :qn: its last attempt was not answered (or answered with
-- a code worth another try) and no attempt is left.
update device_recall set gave_up = cast(:at as timestamptz)
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and qn = :qn and gave_up is null
