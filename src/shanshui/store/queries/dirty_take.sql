select site, day, gen from daily_dirty order by site, day limit :limit
