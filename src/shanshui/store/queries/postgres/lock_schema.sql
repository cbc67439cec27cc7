-- One migrating process at a time (released at the end of the transaction).
select pg_advisory_xact_lock(hashtext('shanshui.store.migrate'))
