-- Time zone of each known site among :codes (unknown codes simply do not appear).
select code, tz from site where code in (select unnest(cast(:codes as text[])))
