-- New alarms in one statement (shanshui.rules), one array element per alarm; returns each
-- new id with the alarm's (site, rule, parameter, opened_at), which the caller keeps unique.
insert into alarm (site, rule, parameter, state, opened_at, closed_at, last_seen, hours, value,
                   threshold, enterprise, permit, detail, created, updated, acknowledged_by,
                   acknowledged_at, ack_note, closed_by, close_note)
select n_site, n_rule, n_parameter, n_state, n_opened_at, n_closed_at, n_last_seen, n_hours,
       n_value, n_threshold, n_enterprise, n_permit, cast(n_detail as json),
       cast(:created as timestamptz), cast(:updated as timestamptz), n_acknowledged_by,
       n_acknowledged_at, n_ack_note, n_closed_by, n_close_note
from (
    select unnest(cast(:sites as text[])) as n_site,
           unnest(cast(:rules as text[])) as n_rule,
           unnest(cast(:parameters as text[])) as n_parameter,
           unnest(cast(:states as text[])) as n_state,
           unnest(cast(:opened_at as timestamptz[])) as n_opened_at,
           unnest(cast(:closed_at as timestamptz[])) as n_closed_at,
           unnest(cast(:last_seen as timestamptz[])) as n_last_seen,
           unnest(cast(:hours as integer[])) as n_hours,
           unnest(cast(:value as double precision[])) as n_value,
           unnest(cast(:threshold as double precision[])) as n_threshold,
           unnest(cast(:enterprise as text[])) as n_enterprise,
           unnest(cast(:permit as text[])) as n_permit,
           unnest(cast(:detail as text[])) as n_detail,
           unnest(cast(:acknowledged_by as text[])) as n_acknowledged_by,
           unnest(cast(:acknowledged_at as timestamptz[])) as n_acknowledged_at,
           unnest(cast(:ack_note as text[])) as n_ack_note,
           unnest(cast(:closed_by as text[])) as n_closed_by,
           unnest(cast(:close_note as text[])) as n_close_note
) s
returning id, site, rule, parameter, opened_at
