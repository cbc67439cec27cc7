-- Requests sent before :cutoff without a 9011 and no attempt left are given up at :at.
update device_recall set gave_up = cast(:at as timestamptz)
where sent < cast(:cutoff as timestamptz) and answered is null and gave_up is null
  and attempts >= :max_attempts
