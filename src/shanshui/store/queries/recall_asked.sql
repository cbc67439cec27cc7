-- A gateway sent a waiting history request with QN :qn (migration 0009): one attempt more,
-- and the answers of the attempt before are cleared (they were about another QN).
update device_recall
set sent = cast(:at as timestamptz), qn = :qn, attempts = attempts + 1, answered = null,
    qn_rtn = null, executed = null, exe_rtn = null, gave_up = null
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and sent is null
