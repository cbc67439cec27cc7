-- Whether this connection may evaluate the alarm rules now: one process only (the embedded
-- store), always (postgres/rules_turn.sql takes turns between processes).
select true
