-- Enterprises (permit holders), by id; optionally one.
select id, name, region, industry, address
from permit_enterprise
where cast(:id as text) is null or id = cast(:id as text)
order by id
