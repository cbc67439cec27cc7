select code, name, kind, region, lon, lat, role, tz, attributes from site
where (cast(:kind as text) is null or kind = cast(:kind as text))
  and (cast(:region as text) is null or region = cast(:region as text))
order by code
