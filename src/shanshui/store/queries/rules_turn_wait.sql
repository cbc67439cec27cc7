-- rules_turn.sql, waiting for the turn (one process only: at once).
select true
