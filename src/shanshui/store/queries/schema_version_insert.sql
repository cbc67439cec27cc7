insert into schema_version (version, name, applied) values (:version, :name, :applied)
