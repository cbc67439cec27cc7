-- shanshui store schema, version 9 (PostgreSQL): what devices answered to history requests.
-- Keep in step with ../duckdb/0009_recall_answers.sql (same columns).
-- Why: until now a request counted as done once its bytes were handed to the connection; a
-- device that disconnected before reading them, refused (9011 QnRtn != 1) or failed (9012
-- ExeRtn != 1) was never asked again and nobody knew. The device's answers carry the
-- request's QN (HJ 212-2017 §6.5, Tables 7 and 8; HJ/T 212-2005 puts it inside CP), so each
-- request keeps the QN it was last sent with, how many times it was sent (attempts), when
-- the 9011 came and its QnRtn (answered, qn_rtn), when the 9012 came and its ExeRtn
-- (executed, exe_rtn), and when the gateway gave up asking (gave_up: no 9011, or no 9012
-- after an accepting 9011, when the attempts ran out). The status shown is derived from these in one place
-- (shanshui.store.recalls.recall_status). Existing rows: attempts 1 where sent, else 0.
alter table device_recall add column if not exists qn text;
alter table device_recall add column attempts integer not null default 0;
alter table device_recall add column if not exists answered timestamptz;
alter table device_recall add column if not exists qn_rtn integer;
alter table device_recall add column if not exists executed timestamptz;
alter table device_recall add column if not exists exe_rtn integer;
alter table device_recall add column if not exists gave_up timestamptz;
update device_recall set attempts = 1 where sent is not null and attempts = 0;
