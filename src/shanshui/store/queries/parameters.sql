select code, name, unit, hj212 from parameter order by code
