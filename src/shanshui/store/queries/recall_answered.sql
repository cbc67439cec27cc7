-- The device's 9011 request answer to the request (HJ 212-2017 Table 7: QnRtn), the first one
-- of the attempt kept. Matched by the request's key, not by the QN in the row: the gateway
-- matched the answer to its request by the QN it sent, which may be a second gateway's
-- attempt of the same request (shanshui.store.recalls.RecallStore.recall_notes).
update device_recall set answered = cast(:at as timestamptz), qn_rtn = :code
where mn = :mn and cn = :cn and begin_time = cast(:begin_time as timestamptz)
  and end_time = cast(:end_time as timestamptz) and sent is not null and answered is null
