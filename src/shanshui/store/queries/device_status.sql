update device set status = :status, updated = cast(:updated as timestamptz) where mn = :mn
