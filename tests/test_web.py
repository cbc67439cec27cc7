"""The portal's pages (shanshui.web) rendered in process against a seeded and an empty store.

Reference values: the AQI categories and colours of HJ 633-2012 Table 2 / Appendix A as
transcribed independently in ``../shared/reference/air/aqi_categories.csv``; the data are
the last 60 days (2017-01, 2017-02) of the Beijing Multi-Site data shipped with the package
(CC BY 4.0).
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

from shanshui import formats
from shanshui.api import create_app
from shanshui.store import open_store, seed
from shanshui.web import pages

DAYS = 60


class Client:
    """A synchronous httpx client over the app in process (keeps cookies between calls)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.cookies = httpx.Cookies()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://portal", cookies=self.cookies
            ) as c:
                response = await c.get(path, **kwargs)
                self.cookies.update(c.cookies)
                return response

        return asyncio.run(go())


def demo_weeks(days: int = DAYS) -> pd.DataFrame:
    """The last ``days`` days of the shipped demo data (Beijing, 12 stations)."""
    table = formats.demo_data()
    end = table["time"].max()
    return table[table["time"] > end - pd.Timedelta(days=days)]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    db = tmp_path_factory.mktemp("web") / "portal.duckdb"
    with open_store(db) as store:
        seed(store)
        store.write_observations(demo_weeks().assign(statistic="avg", period="hour"), source="t")
        store.recompute_daily()
    with open_store(db) as store:
        yield Client(create_app(store))


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    db = tmp_path_factory.mktemp("web-empty") / "empty.duckdb"
    with open_store(db) as store:
        seed(store)
    with open_store(db) as store:
        yield Client(create_app(store))


def reference_categories(shared: Path) -> list[dict[str, Any]]:
    with (shared / "reference/air/aqi_categories.csv").open() as fh:
        return list(csv.DictReader(fh))


def colour_of(aqi: int, categories: list[dict[str, Any]]) -> str:
    """HJ 633-2012 Table 2 / Appendix A colour of an AQI value, from the reference CSV."""
    for c in categories:
        top = int(c["aqi_max"]) if c["aqi_max"] else 10_000
        if int(c["aqi_min"]) <= aqi <= top:
            return "#{:02X}{:02X}{:02X}".format(int(c["r"]), int(c["g"]), int(c["b"]))
    raise AssertionError(aqi)


def snapshot_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="snapshot">(.*?)</script>', html, re.S)
    assert found, "the map page embeds its snapshot"
    return dict(json.loads(found.group(1)))


def test_map_page_shows_every_station_in_its_hj633_colour(seeded: Client, shared: Path) -> None:
    response = seeded.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="zh-CN">' in html and "京津冀" in html
    snapshot = snapshot_of(html)
    # the 12 Beijing national stations of the demo data, 1001A-1012A
    assert {s["site"] for s in snapshot["items"]} == {f"10{i:02d}A" for i in range(1, 13)}
    categories = reference_categories(shared)
    for station in snapshot["items"]:
        assert station["aqi"] is not None
        assert station["colour"] == colour_of(station["aqi"], categories)
        # the station table links the station page and shows its category colour
        assert f'href="/station/{station["site"]}"' in html
        assert f"background:{station['colour']}" in html
    # the legend: all six HJ 633-2012 categories with their Appendix A colours
    for c in categories:
        assert c["category_zh"] in html
        assert "#{:02X}{:02X}{:02X}".format(int(c["r"]), int(c["g"]), int(c["b"])) in html
    # the data are attributed (CC BY 4.0 asks for it) in the footer
    assert "CC BY 4.0" in html and "10.24432/C5RK5G" in html


def test_language_switch_sets_and_keeps_english(seeded: Client) -> None:
    client = Client(seeded.app)
    zh = client.get("/about")
    assert "数据说明" in zh.text and 'href="/about?lang=en"' in zh.text
    en = client.get("/about?lang=en")
    assert '<html lang="en">' in en.text and "About the data" in en.text
    assert "lang=en" in en.headers["set-cookie"]
    # the cookie keeps English on the next page without ?lang
    again = client.get("/ranking")
    assert "City air-quality ranking" in again.text and "城市环境空气质量排名" not in again.text
    assert "城市环境空气质量排名" in client.get("/ranking?lang=zh").text


def test_ranking_is_sorted_by_composite_index(seeded: Client) -> None:
    response = seeded.get("/ranking?lang=zh")
    assert response.status_code == 200
    rows = re.findall(r'<td class="num" data-value="([\d.]+)">(\d+)</td>\s*<td>([^<]+)</td>\s*'
                      r'<td class="num" data-value="([\d.]+)">', response.text)  # fmt: skip
    assert rows, "ranking rows"
    assert [r[2] for r in rows] == ["北京"]  # the demo data are Beijing's stations only
    index = [float(r[3]) for r in rows]
    assert index == sorted(index)
    # the page shows what the API answers for the same period (one core)
    period = re.search(r'name="from" value="([\d-]+)".*?name="to" value="([\d-]+)"', response.text,
                       re.S)  # fmt: skip
    assert period
    api = seeded.get(f"/api/v1/ranking?from={period[1]}&to={period[2]}").json()
    assert [c["composite_index_exact"] for c in api["cities"]] == index


def test_station_page_has_statistics_with_counts(seeded: Client) -> None:
    response = seeded.get("/station/1001A?lang=en")
    assert response.status_code == 200
    html = response.text
    assert "万寿西宫" in html and 'id="chart-24h"' in html and 'id="calendar"' in html
    info = re.search(r'<script type="application/json" id="station-info">(.*?)</script>', html)
    assert info
    meta = json.loads(info.group(1))
    assert meta["code"] == "1001A"
    # GB 3095-2012 Table 1 grade II 24-hour limits drawn on the daily chart
    assert meta["limits"] == {"PM2.5": 75.0, "PM10": 150.0, "SO2": 150.0, "NO2": 80.0, "CO": 4.0}
    # 30-day statistics: valid days / expected (minimum) per pollutant
    counts = re.findall(r"(\d+) / 30 \((\d+)\)", html)
    assert len(counts) >= 5
    for valid, minimum in counts:
        assert 0 <= int(valid) <= 30 and int(minimum) > 0
    # 30 days expected; GB 3095-2012 Table 4 asks 27 valid days a month (25 in February),
    # so the minimum for 30 days is between 25 and 30
    assert all(25 <= int(minimum) <= 30 for _, minimum in counts)
    # HJ 663-2013 judges PM2.5 by its mean AND the 95th percentile of its daily means (SO2,
    # NO2: 98th), so the page shows that percentile beside the mean
    assert "P95 of daily means" in html and "P98 of daily means" in html


def test_unknown_station_is_a_page_not_an_error(seeded: Client) -> None:
    response = seeded.get("/station/NOPE?lang=en")
    assert response.status_code == 404
    assert "No such station" in response.text


def test_empty_store_renders_no_data_yet(empty: Client) -> None:
    for path in ("/", "/ranking", "/station/1001A", "/about", "/?lang=en", "/ranking?lang=en"):
        response = empty.get(path)
        assert response.status_code == 200, (path, response.text[-500:])
    assert "暂无数据" in empty.get("/?lang=zh").text
    assert "No data yet" in empty.get("/station/1001A?lang=en").text
    assert "No data yet" in empty.get("/ranking?lang=en").text


def test_boundaries_are_the_project_regions(seeded: Client) -> None:
    geo = seeded.get("/portal/regions.geojson").json()
    codes = {f["properties"]["id"] for f in geo["features"]}
    # Beijing, Tianjin, Hebei's 11 prefecture cities and Dezhou (GB/T 2260)
    hebei = {f"13{i:02d}00" for i in range(1, 12)}
    assert codes == {"110000", "120000", "371400"} | hebei


def test_missing_chart_library_is_said_not_crashed(
    seeded: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pages, "ECHARTS", tmp_path / "missing.js")
    html = seeded.get("/station/1001A?lang=en").text
    assert 'id="charts-missing"' in html and "make assets" in html
    assert "echarts.min.js" not in html
    monkeypatch.undo()
    assert 'id="charts-missing"' not in seeded.get("/").text


def test_map_polls_every_30_s_unless_asked_faster(seeded: Client) -> None:
    assert "portalMap(30000)" in seeded.get("/").text
    assert "portalMap(2000)" in seeded.get("/?poll=1").text  # never below 2 s
    assert "portalMap(5000)" in seeded.get("/?poll=5").text
    assert "portalMap(30000)" in seeded.get("/?poll=600").text  # never above 30 s
    assert "portalMap(30000)" in seeded.get("/?poll=soon").text
