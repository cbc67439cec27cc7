select code from parameter where code in (select unnest(cast(:codes as text[])))
