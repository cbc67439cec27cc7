"""The open read API (``shanshui.api``) over a DuckDB store holding real data.

The store is seeded with the shipped regions and national station list, then two Beijing
multi-site (PRSA) files — Wanshouxigong (万寿西宫, national 1001A) and Dongsi (东四, 1003A),
``/work/shared/data/beijing_multisite`` (CC BY 4.0) — cut to January 2014 and January 2015
are imported. PRSA labels an hour by its END (row ``h`` is the hour (h−1, h]), so each cut
keeps the row labelled 1 February 00:00 and drops 1 January 00:00. Expected figures are
computed here from the raw file by GB 3095-2012 §3 and Table 4 (a 24-hour mean of ≥ 20
hourly values; a month valid with ≥ 27 valid days) and HJ 633-2012 Table 1.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI

from shanshui.api import ApiKeys, create_app, hash_key, new_key
from shanshui.cli.assess import assess_report, rank_report, store_assess_input, store_rank_input
from shanshui.ingest.importers import import_files
from shanshui.store import Device, Parameter, open_store
from shanshui.store.seed import seed

FILES = {
    "1001A": "PRSA_Data_Wanshouxigong_20130301-20170228.csv",
    "1003A": "PRSA_Data_Dongsi_20130301-20170228.csv",
}
POLLUTANTS = ["SO2", "NO2", "CO", "O3", "PM2.5", "PM10"]


def _keep(y: int, m: int, d: int, h: int) -> bool:
    """Hours (by their end label) of January 2014 and January 2015."""
    if y not in (2014, 2015):
        return False
    return (m == 1 and (d, h) != (1, 0)) or (m, d, h) == (2, 1, 0)


@pytest.fixture(scope="module")
def raw(shared: Path) -> dict[str, pd.DataFrame]:
    """Raw hourly values by the hour's START in Beijing time; CO µg/m³ → mg/m³ (data README)."""
    out = {}
    for code, name in FILES.items():
        frame = pd.read_csv(shared / "data/beijing_multisite" / name)
        end = pd.to_datetime(frame[["year", "month", "day", "hour"]])
        values = frame[POLLUTANTS].astype(float).set_index(end - pd.Timedelta(hours=1))
        values["CO"] = values["CO"] / 1000.0
        out[code] = values
    return out


@pytest.fixture(scope="module")
def operator_key() -> str:
    return new_key()


@pytest.fixture(scope="module")
def store_path(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    paths = []
    for name in FILES.values():
        lines = (shared / "data/beijing_multisite" / name).read_text().splitlines(keepends=True)
        rows = [lines[0]]
        rows += [r for r in lines[1:] if _keep(*(int(f) for f in r.split(",", 5)[1:5]))]
        (folder / name).write_text("".join(rows))
        paths.append(folder / name)
    db = folder / "s.duckdb"
    with open_store(db) as store:
        seed(store)
        report = import_files(store, paths, "prsa", options={"meteorology": False})
        assert not report.failures
        store.recompute_daily()
        store.upsert_devices(
            [Device("MN0000000000001", status="active", password_hash="x")], actor="test"
        )
        store.note_unknown_device(
            "MN0000000000002",
            peer="127.0.0.1",
            seen=datetime(2015, 2, 1, tzinfo=UTC),
            protocol="2017",
        )
    return db


class ApiClient:
    """A synchronous face of ``httpx.AsyncClient`` over ``httpx.ASGITransport`` (in process)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                return await c.get(path, **kwargs)

        return asyncio.run(go())

    def get_method(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())


@pytest.fixture(scope="module")
def client(store_path: Path, operator_key: str) -> Iterator[ApiClient]:
    with open_store(store_path) as store:
        app = create_app(store, keys=ApiKeys({hash_key(operator_key): "operator"}))
        yield ApiClient(app)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details": [...]}}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], list)
    return dict(body["error"])


def test_regions_and_sites_filters_and_pages(client: ApiClient) -> None:
    regions = client.get("/api/v1/regions").json()
    assert any(r["code"] == "110000" for r in regions["items"])  # GB/T 2260 北京市
    first = client.get("/api/v1/sites", params={"kind": "air", "limit": 5}).json()
    rest = client.get("/api/v1/sites", params={"kind": "air", "limit": 5, "offset": 5}).json()
    assert first["total"] == rest["total"] > 1000  # the national station list
    assert len(first["items"]) == 5 and first["items"][0]["code"] < rest["items"][0]["code"]
    # a bounding box around 万寿西宫 (116.3621, 39.8784, the shipped station list) only
    box = client.get("/api/v1/sites", params={"bbox": "116.36,39.87,116.365,39.88"}).json()
    assert [s["code"] for s in box["items"]] == ["1001A"] and box["total"] == 1
    # a province holds its prefectures' sites (河北省 130000 ⊃ 石家庄市 130100)
    hebei = client.get("/api/v1/sites", params={"region": "130000", "limit": 1000}).json()
    sjz = client.get("/api/v1/sites", params={"region": "130100"}).json()
    assert 0 < sjz["total"] < hebei["total"]
    assert {s["code"] for s in sjz["items"]} <= {s["code"] for s in hebei["items"]}
    assert all(
        s["region"] == "110000"
        for s in client.get("/api/v1/sites", params={"region": "110000"}).json()["items"]
    )
    _error(client.get("/api/v1/sites", params={"region": "999999"}), 404, "not_found")
    one = client.get("/api/v1/sites/1001A").json()
    assert one["name"] == "万寿西宫" and one["kind"] == "air"
    _error(client.get("/api/v1/sites/NOPE"), 404, "not_found")
    _error(client.get("/api/v1/sites", params={"bbox": "1,2,3"}), 422, "validation_failed")
    _error(client.get("/api/v1/sites", params={"limit": 0}), 422, "validation_failed")
    _error(client.get("/api/v1/nothing"), 404, "not_found")
    bad_day = {"from": "2015-13-01", "to": "2015-01-31"}
    _error(client.get("/api/v1/sites/1001A/series", params=bad_day), 422, "validation_failed")
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/sites", "/api/v1/latest", "/api/v1/ranking"} <= set(paths)


def _iaqi(c: float, bp: list[float]) -> float:
    """HJ 633-2012 formula (1) on Table 1 breakpoints (IAQI 0, 50, 100, 150, 200, 300, …)."""
    levels = [0, 50, 100, 150, 200, 300, 400, 500]
    for i in range(1, len(bp)):
        if c <= bp[i]:
            return levels[i - 1] + (levels[i] - levels[i - 1]) * (c - bp[i - 1]) / (
                bp[i] - bp[i - 1]
            )
    return 500.0


# HJ 633-2012 Table 1: 1-hour SO2, NO2, CO, O3; PM held against the 24-hour breakpoints
BREAKPOINTS = {
    "SO2": [0, 150, 500, 650, 800],
    "NO2": [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    "CO": [0, 5, 10, 35, 60, 90, 120, 150],
    "O3": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "PM2.5": [0, 35, 75, 115, 150, 250, 350, 500],
    "PM10": [0, 50, 150, 250, 350, 420, 500, 600],
}


def test_latest_gives_the_last_hour_and_its_aqi(
    client: ApiClient, raw: dict[str, pd.DataFrame]
) -> None:
    body = client.get("/api/v1/latest").json()
    assert "start of the hour" in body["time_convention"].lower()
    items = {i["site"]: i for i in body["items"]}
    assert set(items) == {"1001A", "1003A"}
    item = items["1001A"]
    assert item["time"] == "2015-01-31T23:00:00+08:00"  # the row labelled 2015-02-01 00:00
    last = raw["1001A"].loc[pd.Timestamp("2015-01-31 23:00")]
    iaqi = []
    for p in POLLUTANTS:
        if not math.isnan(last[p]):
            assert item["values"][p]["value"] == pytest.approx(last[p])
            iaqi.append(_iaqi(last[p], BREAKPOINTS[p]))
    assert item["aqi"] == math.ceil(max(iaqi) - 1e-9)  # HJ 633-2012 §4.2: rounded up
    assert item["colour"].startswith("#") and item["category_en"]


def test_series_day_and_month_with_counts(client: ApiClient, raw: dict[str, pd.DataFrame]) -> None:
    params = {"parameters": "PM2.5,O3", "from": "2015-01-01", "to": "2015-01-31"}
    params |= {"layout": "rows"}  # the columns layout is checked against it below
    day = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "day"})
    assert day.status_code == 200, day.text
    days = day.json()["series"]["PM2.5"]
    assert len(days) == 31
    hours = raw["1001A"]["PM2.5"]
    n_valid = 0
    for row in days:
        d = hours.loc[f"{row['period']} 00:00" : f"{row['period']} 23:00"]
        n = int(d.notna().sum())  # GB 3095-2012 Table 4: ≥ 20 hourly values a day
        assert (row["expected"], row["observed"], row["valid"]) == (24, n, n >= 20)
        if n >= 20:
            assert row["value"] == pytest.approx(d.mean(), rel=1e-9)
            n_valid += 1
        else:
            assert row["value"] is None
    month = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "month"})
    m = month.json()["series"]["PM2.5"]
    assert len(m) == 1 and m[0]["period"] == "2015-01"
    assert (m[0]["expected"], m[0]["observed"], m[0]["valid"]) == (31, n_valid, n_valid >= 27)
    means = [r["value"] for r in days if r["valid"]]
    if m[0]["valid"]:
        assert m[0]["value"] == pytest.approx(np.mean(means), rel=1e-9)
    year = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "year"})
    y = year.json()["series"]["PM2.5"][0]
    assert (y["period"], y["expected"], y["observed"]) == ("2015", 31, n_valid)
    hour = client.get("/api/v1/sites/1001A/series", params=params | {"to": "2015-01-01"})
    h = hour.json()["series"]["O3"]
    o3 = raw["1001A"]["O3"].loc["2015-01-01 00:00":"2015-01-01 23:00"].dropna()
    assert [r["value"] for r in h] == pytest.approx(list(o3))
    assert h[0]["period"] == "2015-01-01T00:00:00+08:00"
    assert set(h[0]) == {"period", "value", "flag", "expected", "observed", "valid"}
    assert all(
        (r["flag"], r["expected"], r["observed"], r["valid"]) == ("N", 1, 1, True) for r in h
    )
    bad = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "week"})
    _error(bad, 422, "validation_failed")
    backwards = params | {"from": "2015-02-01"}
    _error(client.get("/api/v1/sites/1001A/series", params=backwards), 422, "validation_failed")
    _error(client.get("/api/v1/sites/ZZZ/series", params=params), 404, "not_found")


def test_series_columns_hold_what_rows_hold(
    client: ApiClient, raw: dict[str, pd.DataFrame]
) -> None:
    """The default layout (columns: ``period`` once, arrays per field) says of every value
    what the rows layout says, and an hour with nothing stored is null, not observed."""
    params = {"parameters": "PM2.5,O3", "from": "2015-01-01", "to": "2015-01-31"}
    for aggregation in ("hour", "day", "month", "year"):
        got = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": aggregation})
        assert got.status_code == 200, got.text
        assert got.headers["content-encoding"] == "gzip"  # httpx accepts gzip by default
        columns = got.json()
        rows = client.get(
            "/api/v1/sites/1001A/series",
            params=params | {"aggregation": aggregation, "layout": "rows"},
        ).json()
        assert columns["layout"] == "columns" and rows["layout"] == "rows"
        periods = columns["period"]
        assert len(periods) == {"hour": 31 * 24, "day": 31, "month": 1, "year": 1}[aggregation]
        for name in ("PM2.5", "O3"):
            col = columns["series"][name]
            assert all(len(v) == len(periods) for v in col.values())
            by_period = {r["period"]: r for r in rows["series"][name]}
            for i, period in enumerate(periods):
                one = {k: v[i] for k, v in col.items()}
                if period in by_period:
                    assert {"period": period, **one} == by_period[period]
                else:  # rows list stored hours only
                    assert aggregation == "hour"
                    assert one == {
                        "value": None, "flag": None, "expected": 1, "observed": 0, "valid": False
                    }  # fmt: skip
    # the hours against the raw file (PRSA, hours labelled by their start here)
    hour = client.get("/api/v1/sites/1001A/series", params=params).json()
    assert hour["period"][0] == "2015-01-01T00:00:00+08:00"
    assert hour["period"][-1] == "2015-01-31T23:00:00+08:00"
    pm = raw["1001A"]["PM2.5"].loc["2015-01-01 00:00":"2015-01-31 23:00"]
    assert len(pm) == 31 * 24 and pm.isna().any()  # the month has gaps: nulls are tested
    want = [None if math.isnan(v) else pytest.approx(v) for v in pm]
    assert hour["series"]["PM2.5"]["value"] == want
    assert hour["series"]["PM2.5"]["observed"] == [int(not math.isnan(v)) for v in pm]


def test_series_gzip_only_when_accepted(client: ApiClient) -> None:
    params = {"parameters": "CO", "from": "2015-01-01", "to": "2015-01-02"}
    plain = client.get(
        "/api/v1/sites/1001A/series", params=params, headers={"accept-encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    refused = client.get(
        "/api/v1/sites/1001A/series", params=params, headers={"accept-encoding": "gzip;q=0"}
    )
    assert "content-encoding" not in refused.headers
    zipped = client.get(
        "/api/v1/sites/1001A/series", params=params, headers={"accept-encoding": "br, gzip"}
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it


def test_aqi_daily_and_hourly(client: ApiClient, raw: dict[str, pd.DataFrame]) -> None:
    params = {"station": "1001A", "from": "2015-01-10", "to": "2015-01-11"}
    daily = client.get("/api/v1/aqi/daily", params=params).json()
    assert daily["total"] == 2
    row = daily["items"][0]
    d = raw["1001A"].loc["2015-01-10 00:00":"2015-01-10 23:00"]
    assert row["date"] == "2015-01-10" and row["PM2.5_hours"] == int(d["PM2.5"].notna().sum())
    if row["valid"]:
        assert row["PM2.5"] == pytest.approx(d["PM2.5"].mean(), rel=1e-9)
        assert row["AQI"] >= math.floor(_iaqi(d["PM2.5"].mean(), BREAKPOINTS["PM2.5"]))
    hourly = client.get("/api/v1/aqi/hourly", params=params | {"limit": 10}).json()
    assert hourly["total"] == int(
        raw["1001A"].loc["2015-01-10":"2015-01-11"].notna().any(axis=1).sum()
    )
    assert len(hourly["items"]) == 10 and hourly["items"][0]["time"] == "2015-01-10T00:00:00+08:00"
    city = client.get(
        "/api/v1/aqi/daily", params={"city": "北京", "from": "2015-01-10", "to": "2015-01-10"}
    )
    assert city.status_code == 200 and city.json()["total"] >= 2
    unknown = params | {"station": "ZZZ"}
    _error(client.get("/api/v1/aqi/hourly", params=unknown), 404, "not_found")
    _error(
        client.get("/api/v1/aqi/daily", params={"from": "2015-01-10", "to": "2015-01-11"}),
        422,
        "validation_failed",
    )


def test_assessment_equals_the_cli_report(store_path: Path, client: ApiClient) -> None:
    start, end = pd.Timestamp("2015-01-01").date(), pd.Timestamp("2015-01-31").date()
    api = client.get(
        "/api/v1/assessment", params={"city": "北京", "from": "2015-01-01", "to": "2015-01-31"}
    )
    assert api.status_code == 200, api.text
    with open_store(store_path) as store:
        frame, stations = store_assess_input(store, start, end, city="北京")
    cli = json.loads(json.dumps(assess_report(frame, stations, start, end, city="北京")))
    assert api.json() == cli
    assert cli["year_on_year"] is not None  # January 2014 is in the store
    station = client.get(
        "/api/v1/assessment", params={"station": "1001A", "from": "2015-01-01", "to": "2015-01-31"}
    )
    assert station.json()["scope_kind"] == "station"
    _error(
        client.get(
            "/api/v1/assessment",
            params={"station": "1001A", "from": "2013-01-01", "to": "2013-01-31"},
        ),
        404,
        "not_found",
    )


def test_ranking_with_year_on_year_change(client: ApiClient, store_path: Path) -> None:
    body = client.get("/api/v1/ranking", params={"from": "2015-01-01", "to": "2015-01-31"}).json()
    assert body["previous"] == {"from": "2014-01-01", "to": "2014-01-31"}
    (beijing,) = body["cities"]
    assert beijing["city"] == "北京" and beijing["stations"] == 2 and beijing["rank"] == 1
    assert beijing["year_on_year"]["previous_rank"] == 1
    # the same numbers as rank_report (``shanshui rank``) on the same store
    start, end = pd.Timestamp("2015-01-01").date(), pd.Timestamp("2015-01-31").date()
    with open_store(store_path) as store:
        frame, stations = store_rank_input(store, start, end)
        before, _ = store_rank_input(store, start.replace(year=2014), end.replace(year=2014))
    now = rank_report(frame, stations, start, end).loc["北京"]
    then = rank_report(before, stations, start.replace(year=2014), end.replace(year=2014)).loc[
        "北京"
    ]
    assert beijing["composite_index_exact"] == pytest.approx(now["composite_index"], abs=1e-4)
    assert beijing["PM2.5_mean"] == pytest.approx(now["PM2.5_mean"], abs=0.005)
    # 同比: (now − before) / before × 100
    change = (now["composite_index"] - then["composite_index"]) / then["composite_index"] * 100
    assert beijing["year_on_year"]["composite_index_change_pct"] == pytest.approx(change, abs=0.005)


def test_devices_need_the_operator_role(client: ApiClient, operator_key: str) -> None:
    _error(client.get("/api/v1/devices"), 401, "unauthorized")
    _error(client.get("/api/v1/devices", headers={"X-API-Key": "wrong"}), 401, "invalid_key")
    ok = client.get("/api/v1/devices", headers={"X-API-Key": operator_key}).json()
    assert ok["total"] >= 1 and all("password_hash" not in d for d in ok["items"])
    pending = client.get(
        "/api/v1/devices/pending", headers={"Authorization": f"Bearer {operator_key}"}
    ).json()
    assert [d["mn"] for d in pending["items"]] == ["MN0000000000002"]
    # an operator key is not an admin key: 403; no key: 401
    _error(client.get("/api/v1/admin/keys", headers={"X-API-Key": operator_key}), 403, "forbidden")
    _error(client.get("/api/v1/admin/keys"), 401, "unauthorized")


def test_an_unexpected_failure_is_a_500_in_the_one_shape(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def regions(self) -> None:
            raise RuntimeError("disk on fire")

    admin = new_key()
    client = ApiClient(create_app(Broken(), keys={hash_key(admin): "admin"}))  # type: ignore[arg-type]
    error = _error(client.get("/api/v1/regions"), 500, "internal_error")
    assert "fire" not in error["message"]  # no internals leak
    logged = [r for r in caplog.records if r.name == "shanshui.api" and r.exc_info]
    assert logged and "disk on fire" in str(logged[0].exc_info[1])  # but the log has them
    counts = client.get("/api/v1/admin/keys", headers={"X-API-Key": admin}).json()
    assert counts["roles"] == {"operator": 0, "admin": 1}
    assert client.get("/api/v1/latest").json()["error"]["code"] == "internal_error"


def test_a_public_key_store_keeps_only_digests() -> None:
    token = new_key()
    keys = ApiKeys({hash_key(token): "admin"})
    assert keys.role_of(token) == "admin" and keys.role_of(token + "x") is None
    assert token not in repr(vars(keys))
    with pytest.raises(ValueError, match="unknown role"):
        ApiKeys({hash_key(token): "root"})


def test_downloads_stream_csv_and_parquet(client: ApiClient, raw: dict[str, pd.DataFrame]) -> None:
    import io

    import pyarrow.parquet as pq

    params = {"sites": "1001A", "parameters": "PM2.5", "from": "2015-01-01", "to": "2015-01-31"}
    csv = client.get("/api/v1/downloads/observations.csv", params=params)
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    frame = pd.read_csv(io.StringIO(csv.text))
    assert list(frame.columns) == ["site", "time", "parameter", "value", "flag", "unit"]
    assert set(frame["unit"]) == {"µg/m³"}  # GB 3095-2012 Table 1: PM2.5 in µg/m³
    expected = raw["1001A"]["PM2.5"].loc["2015-01-01 00:00":"2015-01-31 23:00"].dropna()
    assert len(frame) == len(expected)
    assert frame["time"].iloc[0] == expected.index[0].strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert frame["value"].to_numpy() == pytest.approx(expected.to_numpy())
    assert set(frame["flag"]) == {"N"}
    # Parquet: one row group per month with data (January 2014 and January 2015)
    both = params | {"from": "2014-01-01", "sites": "1001A,1003A", "parameters": "PM2.5,CO"}
    pqt = client.get("/api/v1/downloads/observations.parquet", params=both)
    assert pqt.status_code == 200, pqt.text
    reader = pq.ParquetFile(io.BytesIO(pqt.content))
    assert reader.metadata.num_row_groups == 2
    table = reader.read().to_pandas()
    # the unit travels with each value (DESIGN §4); GB 3095-2012 Table 1 states CO in mg/m³
    assert set(table.loc[table["parameter"] == "CO", "unit"]) == {"mg/m³"}
    assert b"start of the period, Beijing time" in reader.schema_arrow.metadata[b"time"]
    for code in ("1001A", "1003A"):
        for p in ("PM2.5", "CO"):
            want = raw[code][p]
            want = pd.concat([want.loc["2014-01-01":"2014-01-31"], want.loc["2015-01"]]).dropna()
            got = table[(table["site"] == code) & (table["parameter"] == p)]
            assert got["value"].to_numpy() == pytest.approx(want.to_numpy())
    # a city: every station of 北京 in the store; nothing in the period: a CSV with its header
    city = client.get(
        "/api/v1/downloads/observations.csv",
        params={"city": "北京", "from": "2015-01-31", "to": "2015-01-31", "parameters": "O3"},
    )
    assert set(pd.read_csv(io.StringIO(city.text))["site"]) == {"1001A", "1003A"}
    empty = client.get("/api/v1/downloads/observations.csv", params=params | {"from": "2013-01-01",
                       "to": "2013-01-02"})  # fmt: skip
    assert empty.text == "site,time,parameter,value,flag,unit\n"
    bad = client.get("/api/v1/downloads/observations.xlsx", params=params)
    _error(bad, 422, "validation_failed")
    _error(client.get("/api/v1/downloads/observations.csv", params=params | {"sites": "ZZ"}),
           404, "not_found")  # fmt: skip
    _error(client.get("/api/v1/downloads/observations.csv", params=params | {"parameters": "X"}),
           422, "validation_failed")  # fmt: skip
    no_scope = {k: v for k, v in params.items() if k != "sites"}
    _error(client.get("/api/v1/downloads/observations.csv", params=no_scope), 422,
           "validation_failed")  # fmt: skip


def test_every_list_is_paginated_and_every_error_has_the_one_shape(client: ApiClient) -> None:
    regions = client.get("/api/v1/regions", params={"limit": 2, "offset": 1}).json()
    assert (regions["limit"], regions["offset"], len(regions["items"])) == (2, 1, 2)
    assert regions["total"] > 2
    below = client.get("/api/v1/regions", params={"parent": "130000"}).json()
    assert below["total"] == 11  # 河北省: 11 prefecture-level cities (GB/T 2260)
    params = client.get("/api/v1/parameters").json()
    assert {"PM2.5", "CO"} <= {p["code"] for p in params["items"]}
    co = next(p for p in params["items"] if p["code"] == "CO")
    assert co["unit"] == "mg/m³"  # GB 3095-2012 Table 1
    ranking = client.get(
        "/api/v1/ranking", params={"from": "2015-01-01", "to": "2015-01-31", "offset": 1}
    ).json()
    assert ranking["total"] == 1 and ranking["cities"] == []
    # 405, 422 (a bad type), 404 of an unknown path: the one shape
    _error(client.get_method("DELETE", "/api/v1/sites"), 405, "method_not_allowed")
    _error(client.get("/api/v1/regions", params={"limit": "many"}), 422, "validation_failed")
    _error(client.get("/nowhere/at/all"), 404, "not_found")
    _error(client.get("/api/v1/devices", params={"status": "flying"}), 401, "unauthorized")
    schema = client.get("/api/v1/static/error.schema.json").json()
    assert schema["required"] == ["error"]


def test_reads_see_the_writers_commits(tmp_path: Path) -> None:
    """The API reads through its own DuckDB connections (cursors of the writer's): what the
    writer commits is seen by the next read (MVCC snapshot), without the writer's lock."""
    with open_store(tmp_path / "w.duckdb") as store:
        seed(store)
        app = create_app(store)
        c = ApiClient(app)
        assert c.get("/api/v1/latest").json()["items"] == []
        t = datetime(2025, 1, 1, 4, tzinfo=UTC)  # 12:00 Beijing time
        store.write_observations([("1001A", "PM2.5", "avg", "hour", t, 80.0, "N")])
        app.state.cache.clear()
        (item,) = c.get("/api/v1/latest").json()["items"]
        assert (
            item["values"]["PM2.5"]["value"] == 80.0 and item["time"] == "2025-01-01T12:00:00+08:00"
        )
        # IAQI of 80 µg/m³ PM2.5 (HJ 633-2012 Table 1: 75→100, 115→150): 100 + 50·5/40, up
        assert item["aqi"] == 107
        # HJ 212-2017 §6.6: flag D (instrument fault) is stored but not valid data
        store.write_observations([("1001A", "PM2.5", "avg", "hour", t, 81.0, "D")])
        hour = c.get(
            "/api/v1/sites/1001A/series",
            params={"from": "2025-01-01", "to": "2025-01-01", "parameters": "PM2.5"}
            | {"layout": "rows"},
        ).json()["series"]["PM2.5"]
        assert hour == [
            {"period": "2025-01-01T12:00:00+08:00", "value": 81.0, "flag": "D",
             "expected": 1, "observed": 0, "valid": False}
        ]  # fmt: skip
        columns = c.get(
            "/api/v1/sites/1001A/series",
            params={"from": "2025-01-01", "to": "2025-01-01", "parameters": "PM2.5"},
        ).json()
        assert columns["period"][12] == "2025-01-01T12:00:00+08:00"
        pm = columns["series"]["PM2.5"]
        assert (pm["value"][12], pm["flag"][12], pm["observed"][12], pm["valid"][12]) == (
            81.0, "D", 0, False
        )  # fmt: skip
        assert pm["value"][:12] == [None] * 12 and pm["flag"][13:] == [None] * 11
        empty = c.get(
            "/api/v1/sites/1001A/series",
            params={"from": "2025-01-02", "to": "2025-01-02", "parameters": "CO"},
        ).json()["series"]["CO"]
        assert empty["value"] == [None] * 24 and empty["valid"] == [False] * 24
        # a read while the writer holds its lock (in the middle of a batch) is not blocked
        with store._lock:  # type: ignore[attr-defined]
            app.state.cache.clear()
            assert c.get("/api/v1/latest").status_code == 200
        app.state.readers.close()


def test_the_response_cache_follows_the_write_generation() -> None:
    from shanshui.api.cache import ResponseCache

    generation = [0]
    made: list[int] = []

    def compute() -> bytes:
        made.append(generation[0])
        return f"g{generation[0]}".encode()

    cache = ResponseCache(lambda: generation[0], max_age=60, max_bytes=4)
    assert cache.get("latest", compute) == b"g0" and cache.get("latest", compute) == b"g0"
    assert made == [0]  # computed once per generation
    generation[0] = 1  # the writer stored something
    assert cache.fresh("latest") is None and cache.get("latest", compute) == b"g1"
    # a past period's entry does not follow the generation, only its own age
    assert cache.get("past", compute, follow=False, max_age=60) == b"g1"
    generation[0] = 2
    assert cache.fresh("past") == b"g1"
    assert cache.get("short", compute, follow=False, max_age=0.0) == b"g2"
    assert cache.fresh("short") is None  # expired at once
    # at most max_bytes (4) are kept: the least recently used entry went first
    assert list(cache._entries) == ["past", "short"]


def test_series_on_a_reader_never_used_before(store_path: Path) -> None:
    """The series reads its one site on whichever pooled reader it gets, also one whose
    connection has not been opened yet (the site and parameter lists come from caches)."""
    with open_store(store_path) as store:
        app = create_app(store, readers=2)
        app.state.sites.get()
        app.state.parameters.get()  # both through the one reader used so far
        with app.state.readers.acquire():  # … which is now busy: the request gets the other
            got = ApiClient(app).get(
                "/api/v1/sites/1001A/series",
                params={"from": "2015-01-01", "to": "2015-01-01", "parameters": "CO"},
            )
        assert got.status_code == 200, got.text
        assert len(got.json()["series"]["CO"]["value"]) == 24
        app.state.readers.close()


def test_downloads_serve_sites_of_every_kind(tmp_path: Path) -> None:
    """A water section's readings download like an air station's (review 21, finding 2: the
    answer began 200 and then broke off empty, the reader taking the code for an air site)."""
    import io
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from shanshui.store import Observation, Site

    with open_store(tmp_path / "w.duckdb") as store:
        store.upsert_sites([Site("W001", "test section", "water", "110000", 116.4, 39.9)])
        store.upsert_parameters([Parameter("w01018", "COD", "mg/L")])
        at = datetime(2025, 3, 1, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
        store.write_observations([Observation("W001", "w01018", "avg", "hour", at, 12.5, "N")])
        client = ApiClient(create_app(store))
        params = {"sites": "W001", "from": "2025-03-01", "to": "2025-03-01"}
        got = client.get("/api/v1/downloads/observations.csv", params=params)
    assert got.status_code == 200, got.text
    frame = pd.read_csv(io.StringIO(got.text))
    assert frame.to_dict("records") == [
        {"site": "W001", "time": "2025-03-01T08:00:00+08:00", "parameter": "w01018",
         "value": 12.5, "flag": "N", "unit": "mg/L"}
    ]  # fmt: skip


def test_series_refuses_a_mean_of_wind_direction(client: ApiClient) -> None:
    """A bearing is circular: the arithmetic mean of hours from 350° and 10° is 180°, the
    opposite wind (review 21, finding 4: a day of north winds was published as 185°)."""
    params = {"from": "2015-01-01", "to": "2015-01-02", "parameters": "WD"}
    for aggregation in ("day", "month", "year"):
        for code in ("WD", "a01008"):  # a01008: HJ 212-2017 wind direction, as gateways store it
            asked = params | {"aggregation": aggregation, "parameters": code}
            refused = client.get("/api/v1/sites/1001A/series", params=asked)
            body = _error(refused, 422, "validation_failed")
            assert "direction" in body["message"]
    # hourly values are not means: not refused for being a direction (this store, imported
    # without meteorology, holds no WD, which the next check names)
    hourly = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "hour"})
    assert "direction" not in hourly.text and "WD" in hourly.text


def test_openapi_documents_422_as_the_one_error_shape(client: ApiClient) -> None:
    """Every operation's 422 is documented as the body it is answered with (review 20b,
    finding 7: FastAPI's ``HTTPValidationError``, ``{"detail": [...]}``, was documented)."""
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(doc)
    documented = [
        op["responses"]["422"]["content"]["application/json"]["schema"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if "422" in op.get("responses", {})
    ]
    assert len(documented) > 20
    assert all(s == {"$ref": "#/components/schemas/ErrorBody"} for s in documented)
    shapes = doc["components"]["schemas"]
    info = shapes[shapes["ErrorBody"]["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    answer = client.get("/api/v1/sites", params={"limit": "many"})
    body = _error(answer, 422, "validation_failed")
    assert set(info["required"]) <= set(body) <= set(info["properties"])


def test_openapi_names_the_credentials_each_operation_needs(client: ApiClient) -> None:
    """Operations that need a key say so (X-API-Key or Bearer: README, "writes need an API
    key"); the ingest says it takes the device's Basic credentials; public reads need
    nothing (review 20b, finding 6: no operation declared any)."""
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    keyed = [{"apiKey": []}, {"bearerKey": []}]
    assert paths["/api/v1/alarms/{alarm_id}/acknowledge"]["post"]["security"] == keyed
    assert paths["/api/v1/admin/keys"]["post"]["security"] == keyed
    assert "security" not in paths["/api/v1/sites"]["get"]
    assert paths["/api/v1/ingest"]["post"]["security"] == [{"deviceBasic": []}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == schemes["apiKey"] | {"type": "apiKey", "in": "header",
                                                     "name": "X-API-Key"}  # fmt: skip
    assert (schemes["bearerKey"]["scheme"], schemes["deviceBasic"]["scheme"]) == (
        "bearer",
        "basic",
    )


def test_daily_publishes_the_stored_daily_aggregates(tmp_path: Path) -> None:
    """``/sites/{code}/daily``: the store's daily rows with their counts and validity
    (GB 3095-2012 Table 4: a 24-hour mean needs ≥ 20 valid hourly means in the natural day,
    Beijing time). Day 1: 20 valid hours 10…29 and one D-flagged (not valid data): mean 19.5,
    valid. Day 2: 19 valid hours: not valid, no value published (DESIGN §4)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from shanshui.store import Observation, Site

    bj = ZoneInfo("Asia/Shanghai")
    day1, day2 = datetime(2025, 3, 1, tzinfo=bj), datetime(2025, 3, 2, tzinfo=bj)
    rows = [Observation("1001A", "PM2.5", "avg", "hour", day1 + timedelta(hours=h), 10.0 + h, "N")
            for h in range(20)]  # fmt: skip
    rows.append(
        Observation("1001A", "PM2.5", "avg", "hour", day1 + timedelta(hours=21), 500.0, "D")
    )
    rows += [Observation("1001A", "PM2.5", "avg", "hour", day2 + timedelta(hours=h), 30.0, "N")
             for h in range(19)]  # fmt: skip
    with open_store(tmp_path / "d.duckdb") as store:
        store.upsert_sites([Site("1001A", "万寿西宫", "air", "110000", 116.366, 39.8673)])
        store.upsert_parameters([Parameter("PM2.5", "PM2.5", "µg/m³")])
        store.write_observations(rows)
        store.recompute_daily()
        client = ApiClient(create_app(store))
        got = client.get(
            "/api/v1/sites/1001A/daily", params={"from": "2025-03-01", "to": "2025-03-02"}
        )
        missing = client.get(
            "/api/v1/sites/ZZZ/daily", params={"from": "2025-03-01", "to": "2025-03-02"}
        )
    assert got.status_code == 200, got.text
    body = got.json()
    one, two = body["items"]
    assert (one["day"], one["value"], one["min"], one["max"]) == ("2025-03-01", 19.5, 10.0, 29.0)
    assert (one["expected"], one["observed"], one["stored"], one["valid"]) == (24, 20, 21, True)
    assert (two["day"], two["value"], two["observed"], two["valid"]) == (
        "2025-03-02",
        None,
        19,
        False,
    )
    assert body["valid_days"] == 1
    _error(missing, 404, "not_found")


def test_series_names_the_periods_the_request_cuts_short(client: ApiClient) -> None:
    """A month or year only partly inside from … to is listed with the days it rests on, so
    that one day labelled "2015" is not read as an annual mean (review 21, finding 5;
    GB 3095-2012 Table 4 defines the annual mean over the whole calendar year)."""
    params = {"parameters": "PM2.5", "from": "2014-12-31", "to": "2015-01-01"}
    year = client.get("/api/v1/sites/1001A/series", params=params | {"aggregation": "year"})
    assert year.json()["partial"] == [
        {"period": "2014", "from": "2014-12-31", "to": "2014-12-31"},
        {"period": "2015", "from": "2015-01-01", "to": "2015-01-01"},
    ]
    whole = {"parameters": "PM2.5", "from": "2015-01-01", "to": "2015-02-28"}
    month = client.get("/api/v1/sites/1001A/series", params=whole | {"aggregation": "month"})
    assert month.json()["partial"] == []
    cut = whole | {"from": "2015-01-10", "aggregation": "month"}
    month = client.get("/api/v1/sites/1001A/series", params=cut)
    assert month.json()["partial"] == [
        {"period": "2015-01", "from": "2015-01-10", "to": "2015-01-31"}
    ]
    day = client.get("/api/v1/sites/1001A/series", params=whole | {"aggregation": "day"})
    assert "partial" not in day.json()
