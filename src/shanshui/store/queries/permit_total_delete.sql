delete from permit_total where permit = cast(:id as text)
