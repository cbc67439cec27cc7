-- Integer key of each registered parameter among :codes (unknown codes do not appear).
select k.code, k.id
from parameter_key k
join parameter p on p.code = k.code
where k.code in (select unnest(cast(:codes as text[])))
