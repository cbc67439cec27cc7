-- One alarm save at a time over the shared database, until the transaction ends: a save then
-- sees the alarms another process's save committed before it inserts (shanshui.store.alarms).
select true from (select pg_advisory_xact_lock(hashtext('shanshui.alarms.save'))) as taken
