"""Reference metadata shipped in shanshui/data: station list, regions, PRSA station table.

Facts come from ``../shared/data/cnemc/README.md`` (2,026 stations in the 2022.02.13 list,
10 without coordinates, Beijing 1001A-1012A, station columns of the 2025 files), from
``../shared/data/beijing_multisite/stations.csv`` and ``../shared/data/boundaries/``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from shanshui.formats import city_regions, prsa_stations, regions, stations
from shanshui.formats.reference import STATION_LIST, data_dir

LIST_2022 = "站点列表-2022.02.13起.csv"


def test_shipped_list_is_the_2022_list_verbatim(shared: Path) -> None:
    shipped = data_dir("stations", STATION_LIST).read_bytes()
    source = (shared / "data" / "cnemc" / "station_lists" / LIST_2022).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == hashlib.sha256(source).hexdigest()


def test_station_list_facts() -> None:
    st = stations()
    assert len(st) == 2026 and st.code.is_unique
    beijing = st[st.code.isin([f"{i}A" for i in range(1001, 1013)])]
    assert set(beijing.city) == {"北京"}
    dingling = st.set_index("code").loc["1002A"]
    assert dingling["name"] == "定陵" and dingling["note"] == "对照点" and dingling["reference"]
    assert not st.set_index("code").loc["1001A", "reference"]
    # README: 10 rows without coordinates ('-' or empty)
    assert int((st.lon.isna() | st.lat.isna()).sum()) == 10
    assert np.isnan(st.set_index("code").loc["1045A", "lon"])  # written '-'
    # status notes are out of the names
    assert not st.name.str.contains(r"[()（）]").any()
    closed = st.set_index("code").loc["1013A"]  # 市监测中心(停运150702)
    assert closed["name"] == "市监测中心" and not closed["active"]
    assert closed["closed"] == pd.Timestamp("2015-07-02")
    assert st.set_index("code").loc["1667A", "closed"] == pd.Timestamp("2020-11-17")
    assert st.set_index("code").loc["1436A", "note"] == "已停运"
    assert st.set_index("code").loc["2994A", "opened"] == pd.Timestamp("2016-10-31")
    assert st.set_index("code").loc["1007A", "lat"] == 39.9611


def test_station_columns_of_the_2025_files_are_the_list(shared: Path) -> None:
    """README: the 2,026 station columns are exactly the 2022.02.13 codes, in that order."""
    path = shared / "data" / "cnemc" / "china_sites" / "china_sites_20250101.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[3:] == list(stations().code)


def test_prsa_station_table(shared: Path) -> None:
    with open(shared / "data" / "beijing_multisite" / "stations.csv", encoding="utf-8") as fh:
        expected = {r["station"]: r["code"] for r in csv.DictReader(fh)}
    table = prsa_stations()
    assert dict(zip(table.station, table.code, strict=True)) == expected
    assert expected["Dingling"] == "1002A"


def test_regions() -> None:
    reg = regions()
    codes = set(reg.code)
    hebei = {f"13{i:02d}00" for i in range(1, 12)}
    assert {"110000", "120000", "130000", "371400"} <= codes and hebei <= codes
    assert set(reg.loc[reg.code.isin(hebei), "parent"]) == {"130000"}
    assert reg.set_index("code").loc["130100", "name_zh"] == "石家庄市"
    assert reg.set_index("code").loc["131100", "name_zh"] == "衡水市"
    mapping = city_regions().set_index("city")["region"]
    assert mapping["雄安新区"] == "130600"  # boundaries README: inside 保定市
    assert set(mapping.index) <= set(stations().city)
    assert set(mapping.to_numpy()) <= codes


def _inside(lon: float, lat: float, geometry: dict) -> bool:
    """Even-odd ray casting over every ring of a (Multi)Polygon."""
    polys = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polys = [polys]
    hit = False
    for poly in polys:
        for ring in poly:
            xy = np.asarray(ring, dtype=float)
            x0, y0 = xy[:-1, 0], xy[:-1, 1]
            x1, y1 = xy[1:, 0], xy[1:, 1]
            crosses = (y0 > lat) != (y1 > lat)
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = x0 + (lat - y0) * (x1 - x0) / (y1 - y0)
            hit ^= bool(np.count_nonzero(crosses & (lon < xc)) % 2)
    return hit


def test_region_of_every_station_agrees_with_the_boundaries(shared: Path) -> None:
    """Each station of the area with coordinates lies in the polygon of its region code
    (ECharts 4.9.0 boundaries from ../shared/data/boundaries)."""
    folder = shared / "data" / "boundaries"
    shapes = {}
    for name in ("china_provinces", "province_hebei", "province_shandong"):
        with open(folder / f"{name}.geojson", encoding="utf-8") as fh:
            for feature in json.load(fh)["features"]:
                shapes[feature["properties"]["id"]] = feature["geometry"]
    st = stations().dropna(subset=["region", "lon", "lat"])
    assert len(st) > 130
    misses = [
        (row.code, row.city, row.region)
        for row in st.itertuples()
        if not _inside(row.lon, row.lat, shapes[row.region])
    ]
    assert misses == []
