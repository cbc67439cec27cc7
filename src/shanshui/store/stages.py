"""The Arrow layouts of the staging tables and of query results (both back ends).

PostgreSQL declares the same staging tables in ``queries/postgres/stages.sql``; DuckDB
registers the Arrow tables under these names. On both, loading a stage replaces what it held:
a stage loaded twice in one transaction (two audit entries) holds the second load's rows only
(PostgreSQL empties it before the second COPY, :class:`~shanshui.store.PostgresStore`).
"""

from __future__ import annotations

import pyarrow as pa

from shanshui.store.batch import TIME

#: ``stage_obs``: a batch of readings by integer site and parameter ids (migration 0004), as
#: the write path stages it (:meth:`~shanshui.store.sqlstore.SQLStore.write_observations`).
OBS_STAGE = pa.schema(
    [
        ("site_id", pa.int32()),
        ("parameter_id", pa.int32()),
        ("statistic", pa.string()),
        ("period", pa.string()),
        ("time", TIME),
        ("value", pa.float64()),
        ("flag", pa.string()),
        ("received", TIME),
        ("source", pa.string()),
    ]
)

#: Columns of :meth:`Store.observations` and :meth:`Store.latest`.
OBS_COLUMNS = pa.schema(
    {
        "site": pa.string(),
        "parameter": pa.string(),
        "statistic": pa.string(),
        "period": pa.string(),
        "time": TIME,
        "value": pa.float64(),
        "flag": pa.string(),
        "received": TIME,
        "source": pa.string(),
    }
)
#: Columns of :meth:`Store.daily`.
DAILY_COLUMNS = pa.schema(
    {
        "site": pa.string(),
        "parameter": pa.string(),
        "statistic": pa.string(),
        "day": pa.date32(),
        "value": pa.float64(),
        "min": pa.float64(),
        "max": pa.float64(),
        "expected": pa.int32(),
        "observed": pa.int32(),
        "valid_count": pa.int32(),
        "valid": pa.bool_(),
        "computed": TIME,
    }
)
#: The staging tables: name → layout.
STAGES: dict[str, pa.Schema] = {
    "stage_obs": OBS_STAGE,
    "stage_days": pa.schema(
        [
            ("site", pa.string()),
            ("day", pa.date32()),
            ("start_utc", TIME),
            ("end_utc", TIME),
            ("expected", pa.int32()),
            ("gen", pa.int64()),
        ]
    ),
    "stage_regions": pa.schema(
        [(c, pa.string()) for c in ("code", "name", "name_en", "level", "parent")]
    ),
    "stage_sites": pa.schema(
        [
            ("code", pa.string()),
            ("name", pa.string()),
            ("kind", pa.string()),
            ("region", pa.string()),
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("role", pa.string()),
            ("tz", pa.string()),
            ("attributes", pa.string()),
        ]
    ),
    "stage_params": pa.schema([(c, pa.string()) for c in ("code", "name", "unit", "hj212")]),
    "stage_devices": pa.schema(
        [(c, pa.string()) for c in ("mn", "status", "password_hash", "protocol", "site")]
    ),
    # device events (migration 0007, shanshui.store.events)
    "stage_events": pa.schema(
        [
            ("site", pa.string()),
            ("mn", pa.string()),
            ("cn", pa.string()),
            ("kind", pa.string()),
            ("time", TIME),
            ("digest", pa.string()),
            ("received", TIME),
            ("qn", pa.string()),
            ("fields", pa.string()),
        ]
    ),
    "stage_touch": pa.schema([("mn", pa.string()), ("seen", TIME), ("peer", pa.string())]),
    "stage_audit": pa.schema(
        [
            ("changed", TIME),
            ("actor", pa.string()),
            ("action", pa.string()),
            ("entity", pa.string()),
            ("site", pa.string()),
            ("key", pa.string()),
            ("old_value", pa.string()),
            ("new_value", pa.string()),
            ("reason", pa.string()),
        ]
    ),
}
