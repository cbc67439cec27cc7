"""Reading the store as the canonical long table, for the analyses that also read files.

``shanshui assess``, ``rank`` and ``aqi`` work on files through :mod:`shanshui.formats`; the
functions here give them the same two tables from a store instead:

- :func:`read_long` — readings as the canonical long table (``site, time, parameter, value,
  flag``; ``time`` tz-aware Asia/Shanghai, the start of the hour, DESIGN §4), exactly the
  columns and dtypes of :func:`shanshui.formats.read_any`;
- :func:`station_table` — the sites as stored, in the columns of
  :func:`shanshui.formats.stations` (``code, name, city, lon, lat, reference, note, closed,
  opened, active, region``) plus ``kind``, ``role`` and ``tz``.

Both select a site set by codes, by city (the station list's city name, a region's name or
its GB/T 2260 code) or by region code. Reads on DuckDB and PostgreSQL come back as Arrow
(DuckDB's Arrow result, PostgreSQL's ``COPY … TO STDOUT``), not row by row, so a year of a
city's stations takes well under a second.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from shanshui.formats.canonical import TIME_DTYPE, TZ, empty_frame
from shanshui.store.api import Site, Store, StoreInputError
from shanshui.store.sql import query

__all__ = ["long_frame", "read_arrow", "read_long", "select_sites", "station_table"]

_STATION_COLUMNS = (
    "code", "name", "city", "lon", "lat", "reference", "note", "closed", "opened", "active",
    "region", "kind", "role", "tz",
)  # fmt: skip

TimeArg = datetime | date | str | None


def _site_row(site: Site, region_names: dict[str, str]) -> dict[str, Any]:
    attrs = dict(site.attributes or {})
    city = attrs.get("city")
    if city is None and site.region is not None:
        city = region_names.get(site.region)
    return {
        "code": site.code,
        "name": site.name,
        "city": city,
        "lon": np.nan if site.lon is None else float(site.lon),
        "lat": np.nan if site.lat is None else float(site.lat),
        # a reference site (对照点) does not enter the city value (HJ 663-2013 §4.2, DESIGN §4)
        "reference": site.role == "reference",
        "note": attrs.get("note", ""),
        "closed": attrs.get("closed"),
        "opened": attrs.get("opened"),
        "active": bool(attrs.get("active", True)),
        "region": site.region,
        "kind": site.kind,
        "role": site.role,
        "tz": site.tz,
    }


def station_table(
    store: Store,
    sites: str | Sequence[str] | None = None,
    *,
    city: str | None = None,
    region: str | None = None,
    kind: str | None = "air",
) -> pd.DataFrame:
    """The stored sites as a station list, like :func:`shanshui.formats.stations`.

    Parameters
    ----------
    store : an open store.
    sites : site codes to keep (unknown codes are left out; see :func:`select_sites`).
    city : the station list's city name (``北京``, ``石家庄``), or a region's name (``石家庄市``)
        or GB/T 2260 code (``130100``): the sites whose ``city`` attribute or region matches.
    region : a GB/T 2260 code: the sites of that region.
    kind : site kind (``air`` by default; None for every kind).

    Returns
    -------
    One row per site, ordered by code; columns ``code, name, city, lon [°], lat [°],
    reference (bool), note, closed, opened (datetime64[s] or NaT), active (bool), region,
    kind, role, tz``.
    """
    found = store.sites(kind=kind, region=region)
    region_names = {r.code: r.name for r in store.regions()}
    rows = [_site_row(s, region_names) for s in found]
    frame = pd.DataFrame(rows, columns=list(_STATION_COLUMNS))
    for col in ("closed", "opened"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[s]")
    frame["lon"] = frame["lon"].astype(np.float64)
    frame["lat"] = frame["lat"].astype(np.float64)
    frame["reference"] = frame["reference"].astype(bool)
    frame["active"] = frame["active"].astype(bool)
    if sites is not None:
        wanted = {sites} if isinstance(sites, str) else set(sites)
        frame = frame[frame["code"].isin(wanted)]
    if city is not None:
        by_region = {code for code, name in region_names.items() if name == city} | {city}
        frame = frame[(frame["city"] == city) | frame["region"].isin(by_region)]
    return frame.reset_index(drop=True)


def select_sites(
    store: Store,
    sites: str | Sequence[str] | None = None,
    *,
    city: str | None = None,
    region: str | None = None,
    kind: str | None = "air",
) -> list[str]:
    """Codes of the stored sites that match; a code in ``sites`` the store lacks raises
    :class:`~shanshui.store.StoreInputError` (a typo should not read as "no data")."""
    table = station_table(store, sites, city=city, region=region, kind=kind)
    codes = table["code"].tolist()
    if sites is not None:
        given = [sites] if isinstance(sites, str) else list(sites)
        missing = sorted(set(given) - set(codes))
        if missing:
            raise StoreInputError(f"no such {kind or ''} site(s) in the store: {missing[:10]}")
    return [str(c) for c in codes]


def _as_time(value: TimeArg, name: str) -> datetime | None:
    """A bound: aware datetime as is; a date (or ``YYYY-MM-DD``) is 00:00 Beijing time, the
    start of that natural day (自然日, DESIGN §4); a naive datetime is Beijing time."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if "T" in text or " " in text:
                value = datetime.fromisoformat(text)
            else:
                value = date.fromisoformat(text)
        except ValueError:
            raise StoreInputError(f"{name}: {text!r} is not an ISO 8601 date or time") from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=ZoneInfo(TZ))
        return value
    return datetime.combine(value, time(0), tzinfo=ZoneInfo(TZ))


def _duck_arrow(store: Store, params: dict[str, Any]) -> pa.Table:
    q = query("long_table", "duckdb")
    with store._session(write=False):  # type: ignore[attr-defined]
        # a relation (not a DB-API cursor) hands its result to Arrow without an extra copy
        rel = store._c.sql(q.text, params=q.bind(params))  # type: ignore[attr-defined]
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        table: pa.Table = fetch()
    return table


def _postgres_arrow(store: Store, params: dict[str, Any]) -> pa.Table:
    q = query("long_table", "postgres")
    buf = io.BytesIO()
    with (
        store._session(write=False),  # type: ignore[attr-defined]
        store._c.cursor() as cur,  # type: ignore[attr-defined]
        cur.copy(q.text, q.bind(params)) as copy,
    ):
        for block in copy:
            buf.write(block)
    names = ["site", "time_us", "parameter", "value", "flag"]
    if buf.tell() == 0:  # nothing selected: the same columns, empty
        types = [pa.string(), pa.timestamp("us", tz="UTC"), *_PG_TYPES[2:]]
        columns = ["site", "time", *names[2:]]
        return pa.table({n: pa.array([], t) for n, t in zip(columns, types, strict=True)})
    buf.seek(0)
    table = pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(zip(names, _PG_TYPES, strict=True)),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    us = table["time_us"].cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(1, "time", us)


_PG_TYPES = [pa.string(), pa.int64(), pa.string(), pa.float64(), pa.string()]


def _generic_arrow(store: Store, params: dict[str, Any]) -> pa.Table:
    """Any other :class:`Store`: through its public :meth:`~Store.observations`."""
    frame = store.observations(
        params["sites"],
        params["parameters"],
        start=params["start"],
        end=params["end"],
        statistic=params["statistic"],
        period=params["period"],
    )
    flag = frame["flag"].fillna("N") if len(frame) else frame["flag"]
    out = pd.DataFrame(
        {
            "site": frame["site"],
            "time": frame["time"],
            "parameter": frame["parameter"],
            "value": frame["value"],
            "flag": flag,
        }
    )
    return pa.Table.from_pandas(out, preserve_index=False)


def read_long(
    store: Store,
    sites: str | Sequence[str] | None = None,
    *,
    city: str | None = None,
    region: str | None = None,
    start: TimeArg = None,
    end: TimeArg = None,
    parameters: str | Sequence[str] | None = None,
    statistic: str = "avg",
    period: str = "hour",
    kind: str | None = "air",
) -> pd.DataFrame:
    """Readings from the store as the canonical long table (see :mod:`shanshui.formats`).

    Parameters
    ----------
    store : an open store (DuckDB or PostgreSQL; any other :class:`Store` works, slower).
    sites, city, region : the site set, as :func:`select_sites` (air sites by default); with
        none of them, every air site.
    start, end : the time range ``[start, end)``: aware datetimes, or dates / ``YYYY-MM-DD``
        meaning 00:00 Beijing time of that natural day (so ``end`` = the day after the last).
    parameters : parameter codes (``PM2.5`` …); None for all.
    statistic, period : which readings: hourly means (``avg``/``hour``) by default, the ones
        GB 3095-2012 and HJ 633-2012 compute from.
    kind : the kind of sites ``sites``, ``city`` and ``region`` select (None: any kind).

    Returns
    -------
    Columns ``site`` (str), ``time`` (datetime64[us, Asia/Shanghai], start of the hour),
    ``parameter`` (str), ``value`` [the parameter's unit in the store; µg/m³, CO mg/m³],
    ``flag`` (str; ``N`` where none was stored), ordered by site, parameter, time.
    """
    codes = select_sites(store, sites, city=city, region=region, kind=kind)
    if not codes:
        return empty_frame()
    wanted = None
    if parameters is not None:
        wanted = [parameters] if isinstance(parameters, str) else [str(p) for p in parameters]
    params = {
        "sites": codes,
        "parameters": wanted,
        "start": _as_time(start, "start"),
        "end": _as_time(end, "end"),
        "statistic": statistic,
        "period": period,
    }
    return long_frame(read_arrow(store, params))


def read_arrow(store: Store, params: dict[str, Any]) -> pa.Table:
    """The readings ``params`` selects (``sites``, ``parameters`` or None, ``start``, ``end``,
    ``statistic``, ``period``) as Arrow columns ``site, time (UTC), parameter, value, flag``,
    read the fastest way the store allows."""
    dialect = getattr(store, "dialect", None)
    # the class, not the instance: a pooled reader's connection opens in its session (``_c``
    # of a store outside one raises)
    if dialect == "duckdb" and hasattr(type(store), "_c"):
        return _duck_arrow(store, params)
    if dialect == "postgres" and hasattr(type(store), "_c"):
        return _postgres_arrow(store, params)
    return _generic_arrow(store, params)


def long_frame(table: pa.Table) -> pd.DataFrame:
    """The canonical long table (:mod:`shanshui.formats`) of :func:`read_arrow`'s columns."""
    if table.num_rows == 0:
        return empty_frame()
    times = pd.DatetimeIndex(table["time"].to_pandas()).as_unit("us").tz_convert(TZ)
    return pd.DataFrame(
        {
            "site": pd.array(table["site"], dtype="str"),
            "time": pd.Series(times, dtype=TIME_DTYPE).array,
            "parameter": pd.array(table["parameter"], dtype="str"),
            "value": table["value"].to_numpy().astype(np.float64),
            "flag": pd.array(table["flag"], dtype="str"),
        },
        copy=False,
    )
