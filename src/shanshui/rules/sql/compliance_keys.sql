-- The integer keys (migration 0004) of the wanted outlets and parameters, for the compliance
-- evaluation's read of obs (shanshui.rules.compliance). Codes that are not registered do not
-- appear: a store holds no readings for them. Named parameters: :sites, :parameters (text[]).
select 's' as kind, code, id from site_key where code in (select unnest(cast(:sites as text[])))
union all
select 'p', code, id from parameter_key where code in (select unnest(cast(:parameters as text[])))
