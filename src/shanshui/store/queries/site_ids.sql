-- Integer key and time zone of each registered site among :codes (unknown codes do not appear).
select k.code, k.id, s.tz
from site_key k
join site s on s.code = k.code
where k.code in (select unnest(cast(:codes as text[])))
