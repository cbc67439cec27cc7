insert into permit (id, enterprise, valid_from, valid_to, synthetic, document, updated)
values (:id, :enterprise, :valid_from, :valid_to, :synthetic, cast(:document as json), :updated)
on conflict (id) do update set
    enterprise = excluded.enterprise, valid_from = excluded.valid_from,
    valid_to = excluded.valid_to, synthetic = excluded.synthetic,
    document = excluded.document, updated = excluded.updated
