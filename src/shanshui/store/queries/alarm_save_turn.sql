-- One alarm save at a time (postgres/alarm_save_turn.sql); one process only: nothing to wait for.
select true
