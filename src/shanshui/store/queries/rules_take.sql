-- The rules job's marks (migration 0005): site id, code, gen and newest data time of every
-- site that ever had readings inserted or corrected. A plain read that changes nothing: each
-- job compares the gens with those it read last (shanshui.rules.engine), so several jobs on
-- one database each see every change.
select m.site_id, k.code, m.gen, m.tmax
from rules_marks m
join site_key k on k.id = m.site_id
order by k.code
