-- Insert the staged device events whose key (site, mn, cn, time, digest; migration 0007) is
-- not stored yet; the row count is the number inserted. The caller stages each key once; a
-- key stored already (a resend, a replayed journal) is skipped, also when another writer
-- stored it meanwhile (PostgreSQL: the primary key and ON CONFLICT).
insert into device_event (site, mn, cn, kind, time, digest, received, qn, fields)
select s.site, s.mn, s.cn, s.kind, s.time, s.digest, s.received, s.qn, s.fields
from stage_events s
where not exists (
    select 1 from device_event e
    where e.site = s.site and e.mn = s.mn and e.cn = s.cn and e.time = s.time
      and e.digest = s.digest
)
on conflict do nothing
