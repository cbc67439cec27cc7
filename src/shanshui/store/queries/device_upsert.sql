-- Register or change devices; their sightings and refusal counts are kept.
insert into device (mn, status, password_hash, protocol, site, refused_logins, updated)
select mn, status, password_hash, protocol, site, 0, cast(:updated as timestamptz)
from stage_devices
on conflict (mn) do update
set status = excluded.status, password_hash = excluded.password_hash,
    protocol = excluded.protocol, site = excluded.site, updated = excluded.updated
