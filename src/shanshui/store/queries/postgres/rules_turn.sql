-- One rules run at a time over the shared database (DESIGN §6: several serve processes, each
-- with a rules job): a session-level advisory lock, taken if free; false when another
-- process holds it (released by rules_turn_end.sql, or with the connection).
select pg_try_advisory_lock(hashtext('shanshui.rules'))
