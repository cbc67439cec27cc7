-- Outlet sites among :codes that a permit of another enterprise holds over days that
-- overlap [:valid_from, :valid_to], with that enterprise. The permit :permit itself is left
-- out (replacing it may correct its enterprise), and so are permits of other periods (an
-- outlet may change owner from one permit period to the next).
select distinct o.site, o.enterprise
from permit_outlet o
join permit p on p.id = o.permit
where o.site in (select unnest(cast(:codes as text[])))
  and o.enterprise <> :enterprise
  and o.permit <> :permit
  and p.valid_from <= cast(:valid_to as date)
  and p.valid_to >= cast(:valid_from as date)
order by o.site
