select code, name, level, parent, name_en from region order by code
