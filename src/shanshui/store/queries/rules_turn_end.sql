-- The end of a rules run's turn (postgres/rules_turn_end.sql gives the lock back).
select true
