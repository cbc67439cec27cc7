-- The back-fills noted for the rules job (migration 0006): site id, code, the gen of its
-- latest back-fill and the oldest data time back-filled.
select b.site_id, k.code, b.gen, b.tmin
from rules_backfill b
join site_key k on k.id = b.site_id
order by b.site_id
