-- The last data time before :end of each outlet (site id; the offline rule). Reads obs by
-- integer ids (migration 0004).
select site_id, max(time) as time from obs
where site_id = any(cast(:site_ids as integer[])) and time < cast(:end as timestamptz)
group by site_id
