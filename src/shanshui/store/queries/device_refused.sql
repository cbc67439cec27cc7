update device
set refused_logins = refused_logins + cast(:n as bigint), last_peer = :peer
where mn = :mn
