"""Demo data and boundaries shipped in shanshui/data/demo, checked against the shared sources.

Sources: ``../shared/data/beijing_multisite/`` (the 12 PRSA files) and
``../shared/data/boundaries/`` (ECharts 4.9.0 GeoJSON); the raw values are read with the
csv module, independently of the readers.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from shanshui.formats import POLLUTANTS, boundaries, demo_data, regions
from shanshui.formats.demo import beijing_features, region_features
from shanshui.formats.reference import data_dir


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return demo_data()


def test_demo_data_matches_the_raw_prsa_files(shared: Path, demo: pd.DataFrame) -> None:
    """Every non-NA pollutant cell of the 12 files is in the demo data, with CO / 1000.

    The raw files are read with plain pandas.read_csv (not shanshui's readers)."""
    folder = shared / "data" / "beijing_multisite"
    with open(folder / "stations.csv", encoding="utf-8") as fh:
        codes = {r["station"]: r["code"] for r in csv.DictReader(fh)}
    raw = pd.concat(
        [pd.read_csv(p) for p in sorted(folder.glob("PRSA_Data_*.csv"))], ignore_index=True
    )
    assert len(raw) == 420_768  # README
    assert len(demo) == int(raw[list(POLLUTANTS)].notna().sum().sum()) == 2_454_305
    assert set(demo.parameter.unique()) == set(POLLUTANTS)
    assert set(demo.site.unique()) == set(codes.values())
    raw = raw[raw.station.isin(["Tiantan", "Dingling"])]  # values: two stations in full
    demo = demo[demo.site.isin([codes["Tiantan"], codes["Dingling"]])]
    start = pd.to_datetime(raw[["year", "month", "day", "hour"]]).dt.tz_localize(
        "Asia/Shanghai"
    ) - pd.Timedelta(hours=1)  # hour label = end of the hour (CNEMC convention)
    expected = (
        raw.assign(site=raw.station.map(codes), time=start, CO=raw.CO / 1000)
        .melt(id_vars=["site", "time"], value_vars=list(POLLUTANTS), var_name="parameter")
        .dropna(subset=["value"])
    )
    key = ["site", "time", "parameter"]
    merged = expected.merge(demo, on=key, how="outer", suffixes=("_raw", "_demo"))
    assert len(merged) == len(demo)
    assert (merged.value_raw - merged.value_demo).abs().max() < 1e-12


def test_demo_data_is_compact() -> None:
    size = data_dir("demo", "prsa_beijing_pollutants.parquet").read_bytes()
    assert len(size) < 8 * 1024 * 1024


def test_region_boundaries(shared: Path) -> None:
    shipped = boundaries()
    codes = [f["properties"]["id"] for f in shipped["features"]]
    reg = regions()
    assert codes == list(reg.loc[reg.level != "province", "code"])
    assert len(codes) == 14
    folder = shared / "data" / "boundaries"
    with open(folder / "province_hebei.geojson", encoding="utf-8") as fh:
        hebei = {f["properties"]["id"]: f["geometry"] for f in json.load(fh)["features"]}
    for feature in shipped["features"]:
        if feature["properties"]["id"] in hebei:
            assert feature["geometry"] == hebei[feature["properties"]["id"]]
    assert shipped == region_features(folder)
    assert boundaries("beijing") == beijing_features(folder)
    assert len(boundaries("beijing")["features"]) == 16
    notice = data_dir("demo", "ECHARTS_NOTICE.txt").read_text(encoding="utf-8")
    assert "Apache Software Foundation" in notice
