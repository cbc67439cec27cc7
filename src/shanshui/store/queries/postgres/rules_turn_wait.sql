-- rules_turn.sql, waiting until the process that holds the turn gives it back (a run asked
-- for by hand: shanshui permits evaluate).
select true from (select pg_advisory_lock(hashtext('shanshui.rules'))) as taken
