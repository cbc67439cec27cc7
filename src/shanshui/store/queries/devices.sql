select mn, status, password_hash, protocol, site, first_seen, last_seen, last_peer,
       refused_logins
from device
where (cast(:status as text) is null or status = cast(:status as text))
  and (cast(:mns as text[]) is null or mn in (select unnest(cast(:mns as text[]))))
order by mn
