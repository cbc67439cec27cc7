delete from permit_limit where permit = cast(:id as text)
