insert into audit_log (changed, actor, action, entity, site, key, old_value, new_value, reason)
select changed, actor, action, entity, site, key, old_value, new_value, reason from stage_audit
