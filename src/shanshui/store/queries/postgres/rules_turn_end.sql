-- Give back the rules run's turn (rules_turn.sql).
select pg_advisory_unlock(hashtext('shanshui.rules'))
