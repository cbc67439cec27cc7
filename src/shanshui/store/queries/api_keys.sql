select id, digest, role, label, created, revoked
from api_key
where (cast(:id as text) is null or id = cast(:id as text))
  and (cast(:active as boolean) is null or (revoked is null) = cast(:active as boolean))
order by created, id
