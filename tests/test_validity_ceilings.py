"""Plausibility ceilings (issue 4): one rule, :mod:`shanshui.formats.validity`, for every way
readings enter — the PRSA, CNEMC and long-CSV importers (a bad row with file and line, the
rest kept, as a negative value is) and the HTTP JSON ingest (refused in the one error shape).

Reference values:

- HJ 633-2012 Table 1 as transcribed in ``../shared/reference/air/aqi_breakpoints.csv`` (µg/m³,
  CO mg/m³, per its README): the highest concentration an IAQI can express, and IAQI 500,
  the last level (the README: "the standard computes no IAQI beyond 500").
- :data:`MARGIN`: the CHOICE written in ``formats/validity.py`` (a pollutant's ceiling is 20 ×
  its highest Table 1 concentration), stated here on its own so that a change of it is seen.
- Real rows of ``../shared/data`` (PRSA Dongsi; CNEMC 2025-01-01, and 2025-01-29, the night of
  the Spring Festival, whose fireworks gave hourly PM2.5 far above Table 1) with one value
  replaced by an absurd one; the expected rows are counted from the files with :mod:`csv`, or
  are what the same importer stores of the unmodified rows.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import gzip
import io
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from shanshui import formats
from shanshui.formats.validity import bounds
from shanshui.ingest.http_ingest import create_ingest_app
from shanshui.ingest.importers import ImportReport, import_files
from shanshui.store import AIR_PARAMETERS, Device, Parameter, Site, Store, hash_password, open_store
from shanshui.store.reading import read_long

BREAKPOINTS = "reference/air/aqi_breakpoints.csv"
PRSA = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"
CNEMC = "data/cnemc/china_sites/china_sites_20250101.csv.gz"
CNEMC_FESTIVAL = "data/cnemc/china_sites/china_sites_20250129.csv.gz"
#: The CHOICE of ``formats/validity.py`` (``CEILING_MARGIN``).
MARGIN = 20
#: Units of the reference table (its README): µg/m³, CO in mg/m³.
UNIT = {"CO": "mg/m³"}
#: CNEMC's rolling types, each bound by the ceiling of its pollutant.
DERIVED = ("PM2.5_24h", "PM10_24h", "SO2_24h", "NO2_24h", "CO_24h", "O3_24h", "O3_8h", "O3_8h_24h")


# ----------------------------------------------------------------------------- the reference
def table_1(shared: Path) -> dict[str, list[float]]:
    """HJ 633-2012 Table 1 by column (``SO2_24h`` …, and ``IAQI``), empty cells left out."""
    with (shared / BREAKPOINTS).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {c: [float(r[c]) for r in rows if r[c] != ""] for c in rows[0]}


def highest(shared: Path) -> dict[str, float]:
    """Per pollutant, the highest concentration of any of its Table 1 columns."""
    out: dict[str, float] = {}
    for column, values in table_1(shared).items():
        if column != "IAQI":
            pollutant = column.rsplit("_", 1)[0]
            out[pollutant] = max(out.get(pollutant, 0.0), *values)
    return out


def ceilings(shared: Path) -> dict[str, float]:
    """The expected ceilings by pollutant (``PM25`` for PM2.5: a format key) and ``AQI``."""
    out = {p.replace(".", ""): MARGIN * v for p, v in highest(shared).items()}
    return {**out, "AQI": max(table_1(shared)["IAQI"])}


def test_pollutant_ceilings_are_the_margin_times_table_1s_highest_concentration(
    shared: Path,
) -> None:
    top = highest(shared)
    assert set(top) == {"SO2", "NO2", "PM10", "CO", "O3", "PM2.5"}
    for name in (*top, *DERIVED):
        pollutant = name.split("_")[0] if name not in top else name
        unit = UNIT.get(pollutant, "µg/m³")
        limits = bounds(name, unit)
        assert limits is not None, name
        assert limits.high == MARGIN * top[pollutant], name
        assert limits.unit == unit


def test_every_concentration_table_1_expresses_is_plausible(shared: Path) -> None:
    """A ceiling never refuses a value an IAQI can be computed from (0 … the top)."""
    for column, values in table_1(shared).items():
        if column == "IAQI":
            continue
        pollutant = column.rsplit("_", 1)[0]
        limits = bounds(pollutant, UNIT.get(pollutant, "µg/m³"))
        assert limits is not None
        assert all(limits.low <= v <= limits.high for v in values), column


def test_the_aqi_ceiling_is_table_1s_last_iaqi(shared: Path) -> None:
    limits = bounds("AQI", "1")
    assert limits is not None and limits.high == max(table_1(shared)["IAQI"]) == 500


# --------------------------------------------------------------------- real extremes are kept
def test_the_real_extremes_of_the_shared_files_are_kept(shared: Path) -> None:
    """The Spring Festival hours of 2025-01-29 (PM2.5 several times Table 1's top 500) and
    Dongsi's O3 and PM2.5 peaks import without a bad row; their maxima are stored."""
    with gzip.open(shared / CNEMC_FESTIVAL, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    pm25 = max(float(c) for r in rows[1:] if r[2] == "PM2.5" for c in r[3:] if c)
    assert pm25 > 3 * max(table_1(shared)["PM2.5_24h"])  # far above what an IAQI expresses
    frame = formats.read_cnemc(shared / CNEMC_FESTIVAL, derived=True, errors="raise")
    assert frame.loc[frame["parameter"] == "PM2.5", "value"].max() == pm25
    with (shared / PRSA).open(encoding="utf-8") as fh:
        prsa = list(csv.DictReader(fh))
    prsa_frame = formats.read_prsa(shared / PRSA, errors="raise")
    for column in ("PM2.5", "O3", "PM10"):
        peak = max(float(r[column]) for r in prsa if r[column] != "NA")
        stored = prsa_frame.loc[prsa_frame["parameter"] == column, "value"].max()
        assert stored == peak, column


# ---------------------------------------------------------------------------- the importers
def bad_lines(report: ImportReport) -> list[tuple[str, int]]:
    return [(Path(b.file).name, b.line) for b in report.bad_rows]


def stored(store: Store) -> set[tuple[str, str, str, float]]:
    """Every stored hourly value as (site, time, parameter, value)."""
    frame = read_long(store, None, parameters=None)
    return {
        (str(s), t.isoformat(), str(p), float(v))
        for s, t, p, v in zip(
            frame["site"], frame["time"], frame["parameter"], frame["value"], strict=True
        )
    }


def import_both(
    tmp_path: Path, name: str, original: list[str], changed: list[str], fmt: Any, **kw: Any
) -> tuple[ImportReport, set[tuple[str, str, str, float]], set[tuple[str, str, str, float]]]:
    """Import the real lines and the changed ones into two stores; the changed file's report
    and what each store holds."""
    (tmp_path / "orig").mkdir()
    (tmp_path / "orig" / name).write_text("".join(original), encoding="utf-8")
    (tmp_path / name).write_text("".join(changed), encoding="utf-8")
    with open_store(":memory:") as store:
        clean = import_files(store, tmp_path / "orig" / name, fmt, **kw)
        assert clean.bad_count == 0
        before = stored(store)
    with open_store(":memory:") as store:
        report = import_files(store, tmp_path / name, fmt, **kw)
        after = stored(store)
    return report, before, after


def prsa_lines(shared: Path, n: int = 200) -> list[str]:
    with (shared / PRSA).open(encoding="utf-8") as fh:
        return list(itertools.islice(fh, n))


@pytest.mark.parametrize(
    ("column", "absurd", "says"),
    [
        ("PM2.5", "99999", "column PM2.5: 99999 µg/m³ exceeds {PM25:g} µg/m³"),
        ("PM10", "1e308", "column PM10: 1e+308 µg/m³ exceeds {PM10:g} µg/m³"),
        # the file's CO is in µg/m³: its ceiling there is 1000 × the mg/m³ one
        ("CO", "5000000", "column CO: 5e+06 µg/m³ exceeds {CO_ug:g} µg/m³"),
        ("O3", "99999", "column O3: 99999 µg/m³ exceeds {O3:g} µg/m³"),
        ("TEMP", "1e308", "column TEMP: 1e+308 °C exceeds"),
        ("PRES", "-99999", "column PRES: -99999 hPa is below"),
        ("WSPM", "-2", "column WSPM: -2 m/s is below"),
    ],
    ids=["pm25-99999", "pm10-1e308", "co-5e6", "o3-99999", "temp-1e308", "pres-neg", "wspm-neg"],
)
def test_prsa_an_absurd_cell_is_a_bad_row_the_rest_of_its_line_kept(
    shared: Path, tmp_path: Path, column: str, absurd: str, says: str
) -> None:
    original = prsa_lines(shared)
    header = next(csv.reader([original[0]]))  # quoted names
    fields = original[7].split(",")  # line 8 (numbers and quoted words: no comma inside)
    assert fields[header.index(column)] != "NA"
    fields[header.index(column)] = absurd
    changed = [*original[:7], ",".join(fields), *original[8:]]
    report, before, after = import_both(tmp_path, "PRSA_absurd.csv", original, changed, "prsa")
    assert bad_lines(report) == [("PRSA_absurd.csv", 8)]
    top = ceilings(shared)
    top["CO_ug"] = top["CO"] * 1000
    assert report.bad_rows[0].reason.startswith(says.format_map(top)), report.bad_rows[0].reason
    (missing,) = before - after  # the one cell, nothing else
    assert missing[2] == column and after < before


def cnemc_lines(shared: Path, n: int = 46, stations: int = 12) -> list[str]:
    """The header and the first 45 rows (hours 0-2 × 15 types) of a real CNEMC day, cut to
    its first 12 stations (Beijing's 1001A-1012A) to keep the test fast."""
    with gzip.open(shared / CNEMC, "rt", encoding="utf-8") as fh:
        lines = list(itertools.islice(fh, n))
    return [",".join(line.rstrip("\n").split(",")[: 3 + stations]) + "\n" for line in lines]


@pytest.mark.parametrize(
    "case",
    [
        (3, "PM2.5", "99999", "column {code}: 99999 µg/m³ exceeds {PM25:g} µg/m³"),
        (4, "PM2.5_24h", "1e308", "column {code}: 1e+308 µg/m³ exceeds {PM25:g} µg/m³"),
        (15, "CO", "99999", "column {code}: 99999 mg/m³ exceeds {CO:g} mg/m³"),
        (2, "AQI", "501", "column {code}: 501 exceeds {AQI:g},"),
    ],
    ids=["pm25-99999", "pm25_24h-1e308", "co-99999", "aqi-501"],
)
def test_cnemc_an_absurd_cell_is_a_bad_row_the_rest_of_its_line_kept(
    shared: Path, tmp_path: Path, case: tuple[int, str, str, str]
) -> None:
    line, kind, absurd, says = case
    original = cnemc_lines(shared)
    fields = original[line - 1].split(",")
    assert fields[2] == kind
    column = next(j for j in range(3, len(fields)) if fields[j].strip())  # a station's value
    fields[column] = absurd
    changed = [*original[: line - 1], ",".join(fields), *original[line:]]
    name = "china_sites_20250101.csv"
    report, before, after = import_both(
        tmp_path, name, original, changed, "cnemc", options={"derived": True}
    )
    assert bad_lines(report) == [(name, line)]
    code = original[0].strip().split(",")[column]
    expected: dict[str, Any] = {**ceilings(shared), "code": code}
    assert report.bad_rows[0].reason.startswith(says.format_map(expected))
    (missing,) = before - after  # only that station's cell
    assert missing[0] == code and missing[2] == kind


def test_long_csv_an_absurd_value_is_a_bad_row_the_others_kept(
    shared: Path, tmp_path: Path
) -> None:
    """Dongsi's line 8 written as a long CSV (one value a line, its hour as the time, CO in
    the file's µg/m³); the absurd values are bad lines of their own."""
    original = list(csv.DictReader(io.StringIO("".join(prsa_lines(shared, 8)))))[6]
    hour = f"{original['year']}-{int(original['month']):02d}-{int(original['day']):02d}"
    time = f"{hour} {int(original['hour']):02d}:00"
    lines = ["site,time,parameter,value,unit\n"]
    for column in ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP"):
        unit = "ug/m3" if column == "CO" else ""
        lines.append(f"1003A,{time},{column},{original[column]},{unit}\n")
    lines.append(f"1003A,{time},AQI,500,\n")  # the last IAQI: kept
    absurd = [
        f"1003A,{time},PM2.5,99999,\n",
        f"1003A,{time},CO,5000000,ug/m3\n",  # 5,000 mg/m³
        f"1003A,{time},AQI,501,\n",
        f"1003A,{time},TEMP,-1e308,\n",
    ]
    changed = [*lines[:3], *absurd, *lines[3:]]  # after the PM10 line (line 3)
    report, before, after = import_both(tmp_path, "long.csv", lines, changed, "long")
    assert bad_lines(report) == [("long.csv", n) for n in (4, 5, 6, 7)]
    reasons = [b.reason for b in report.bad_rows]
    top = ceilings(shared)
    assert reasons[0].startswith(f"value of PM2.5: 99999 µg/m³ exceeds {top['PM25']:g} µg/m³")
    assert reasons[1].startswith(f"value of CO: 5000 mg/m³ exceeds {top['CO']:g} mg/m³")
    assert reasons[2].startswith("value of AQI: 501 exceeds 500,")
    assert reasons[3].startswith("value of TEMP: -1e+308 °C is below")
    assert after == before and len(after) == len(lines) - 1  # every real value kept


# --------------------------------------------------------------------------- the HTTP ingest
PASSWORD = "s3cret"
URL = "http://ingest.test/api/v1/ingest"


@pytest.fixture
def http_store() -> Any:
    with open_store(":memory:") as store:
        store.upsert_parameters(
            [*AIR_PARAMETERS, Parameter("AQI", "AQI", "1"), Parameter("TEMP", "TEMP", "°C")]
        )
        store.upsert_sites([Site("1001A", "万寿西宫", "air", "110000", 116.3621, 39.8784)])
        store.upsert_devices(
            [Device("MN1001A", "active", hash_password(PASSWORD, n=2**10), "http", "1001A")],
            actor="test",
        )
        yield store


def post(store: Store, readings: list[dict[str, Any]]) -> httpx.Response:
    app = create_ingest_app(store)
    auth = "Basic " + base64.b64encode(f"MN1001A:{PASSWORD}".encode()).decode()
    headers = {"content-type": "application/json", "authorization": auth}

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.post(
                URL, content=json.dumps({"readings": readings}), headers=headers
            )

    return asyncio.run(go())


def reading(parameter: str, value: float, hour: int = 5) -> dict[str, Any]:
    return {"parameter": parameter, "time": f"2025-01-29T{hour:02d}:00:00+08:00", "value": value}


@pytest.mark.parametrize(
    ("parameter", "absurd", "says"),
    [
        ("PM2.5", 99999.0, "value: 99999 µg/m³ exceeds {PM25:g} µg/m³"),
        ("PM2.5", 1e308, "value: 1e+308 µg/m³ exceeds {PM25:g} µg/m³"),
        ("CO", 3001.0, "value: 3001 mg/m³ exceeds {CO:g} mg/m³"),
        ("AQI", 501.0, "value: 501 exceeds {AQI:g},"),
        ("TEMP", -1e308, "value: -1e+308 °C is below"),
    ],
    ids=["pm25-99999", "pm25-1e308", "co-3001", "aqi-501", "temp-neg-1e308"],
)
def test_http_an_absurd_value_is_refused_in_the_one_error_shape(
    shared: Path, http_store: Store, parameter: str, absurd: float, says: str
) -> None:
    real = reading("PM2.5", 35.0, hour=4)
    resp = post(http_store, [real, reading(parameter, absurd)])
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "validation_failed"
    (detail,) = body["error"]["details"]
    assert detail["loc"] == ["readings", 1, "value"] and detail["type"] == "value_range"
    assert detail["message"].startswith(says.format_map(ceilings(shared))), detail["message"]
    assert http_store.observations("1001A").empty  # all or nothing


def test_http_the_real_extremes_are_stored(shared: Path, http_store: Store) -> None:
    """The Spring Festival's highest PM2.5 hour, Table 1's top CO and AQI 500 pass."""
    with gzip.open(shared / CNEMC_FESTIVAL, "rt", encoding="utf-8") as fh:
        pm25 = max(float(c) for r in csv.reader(fh) if r[2] == "PM2.5" for c in r[3:] if c)
    top_co = max(table_1(shared)["CO_1h"])
    readings = [reading("PM2.5", pm25), reading("CO", top_co), reading("AQI", 500.0)]
    resp = post(http_store, readings)
    assert resp.status_code == 200, resp.text
    values = http_store.observations("1001A").set_index("parameter")["value"].to_dict()
    assert values == {"PM2.5": pm25, "CO": top_co, "AQI": 500.0}
