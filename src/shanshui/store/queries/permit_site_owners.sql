-- Outlet sites among :codes that another enterprise's permit holds, with that enterprise.
select distinct site, enterprise
from permit_outlet
where site in (select unnest(cast(:codes as text[])))
  and enterprise <> :enterprise
order by site
