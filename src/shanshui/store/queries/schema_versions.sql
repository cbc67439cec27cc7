select version from schema_version order by version
