update api_key set revoked = cast(:revoked as timestamptz) where id = :id and revoked is null
