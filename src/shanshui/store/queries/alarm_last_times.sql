-- The last data time before :end of each outlet (the offline rule).
select site, max(time) as time from observation
where site in (select unnest(cast(:sites as text[]))) and time < cast(:end as timestamptz)
group by site
order by site
