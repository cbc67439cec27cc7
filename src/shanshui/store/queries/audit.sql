select id, changed, actor, action, entity, site, key, old_value, new_value, reason
from audit_log
where (cast(:site as text) is null or site = cast(:site as text))
  and (cast(:entity as text) is null or entity = cast(:entity as text))
  and (cast(:since as timestamptz) is null or changed >= cast(:since as timestamptz))
order by id
limit :limit
