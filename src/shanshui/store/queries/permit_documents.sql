-- Documents of all permits, optionally of one enterprise, by id.
select document
from permit
where cast(:enterprise as text) is null or enterprise = cast(:enterprise as text)
order by id
