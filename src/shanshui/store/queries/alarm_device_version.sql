-- A version of the device registry: every registration, change and status change sets the
-- row's updated time (sightings do not), and devices are never deleted.
select count(*) as n, max(updated) as updated from device
