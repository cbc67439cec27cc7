-- Every active device with its site and when it was last made active: the newest audit row
-- of the device whose new value is active and whose old value is not (registration, or
-- approval of a pending or disabled device); null when no such audit row exists. For the
-- offline rule's expectation anchor; read again only when alarm_device_version changes.
select d.mn, d.site, max(a.changed) as activated
from device d
left join audit_log a
  on a.entity = 'device' and a.key = d.mn
 and (a.new_value ->> 'status') = 'active'
 and (a.old_value is null or (a.old_value ->> 'status') is distinct from 'active')
where d.status = 'active'
group by d.mn, d.site
order by d.mn
