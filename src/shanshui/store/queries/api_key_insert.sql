insert into api_key (id, digest, role, label, created, revoked)
values (:id, :digest, :role, :label, cast(:created as timestamptz), null)
