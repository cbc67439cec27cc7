-- The device's 9011 request answer to the request it was sent with QN :qn (HJ 212-2017
-- Table 7: QnRtn), the first one kept.
update device_recall set answered = cast(:at as timestamptz), qn_rtn = :code
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and qn = :qn and answered is null
