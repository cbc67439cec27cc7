delete from permit_outlet where permit = cast(:id as text)
