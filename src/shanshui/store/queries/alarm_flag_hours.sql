-- Per outlet (site id), data hour and flag: how many readings of the hour carry the flag (no
-- flag counts as N). For the flag rule (shanshui.rules). Reads obs by integer ids (migration
-- 0004; the caller maps codes to ids and back from its cache). The hour is the number of
-- whole hours since 1970-01-01 00:00 UTC (= the UTC clock hour, = the Beijing hour: UTC+8 is
-- a whole number of hours); arithmetic on the epoch is several times faster than date_trunc
-- on a zoned time in DuckDB (measured: 0.18 s against 0.71 s on 1.15 M rows).
select site_id, cast(floor(extract(epoch from time) / 3600) as bigint) as hour,
       coalesce(flag, 'N') as flag, count(*) as n
from obs
where site_id = any(cast(:site_ids as integer[]))
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by 1, 2, 3
