-- Requests sent before :cutoff without a 9011 and with attempts left wait again (a gateway
-- that restarted or forgot them: the answer timeout, shanshui.ingest.recalls).
update device_recall set sent = null
where sent < cast(:cutoff as timestamptz) and answered is null and gave_up is null
  and attempts < :max_attempts
