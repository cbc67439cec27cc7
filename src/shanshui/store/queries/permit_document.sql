-- The stored document (JSON layout of docs/permits.md) of permit :id.
select document from permit where id = cast(:id as text)
