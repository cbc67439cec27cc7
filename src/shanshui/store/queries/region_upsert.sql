insert into region (code, name, name_en, level, parent)
select code, name, name_en, level, parent from stage_regions
on conflict (code) do update
set name = excluded.name, name_en = excluded.name_en, level = excluded.level,
    parent = excluded.parent
