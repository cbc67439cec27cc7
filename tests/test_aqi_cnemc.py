"""``shanshui aqi hourly`` reproduces the AQI that CNEMC published beside its concentrations.

Data: the 30 shared quotsoft daily files ``china_sites_20250101..20250130`` (CNEMC national
real-time platform, via quotsoft.net/air; ``../shared/data/cnemc/README.md``), all 2,026
stations. Every station-hour with a published AQI goes through the CLI (one subprocess run
on a CSV built from the files) and the computed AQI is compared with the published one.
The real-time rule and the few station-hours that cannot match are documented in
``docs/aqi-realtime-rule.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

pytestmark = pytest.mark.slow

TYPES = ["AQI", "SO2", "NO2", "CO", "O3", "PM2.5", "PM10", "SO2_24h"]

#: Station-hours whose published AQI is no function of the published concentrations
#: (docs/aqi-realtime-rule.md, "What cannot match"): (date, hour label, station).
NOT_A_FUNCTION = {
    (20250108, 20, "2621A"),  # AQI 5 although PM10 = 6 µg/m³ alone gives IAQI 6
    (20250111, 3, "3375A"),  # AQI 8 where every published value gives IAQI <= 7 ...
    (20250111, 7, "3375A"),  # ... while hour 4, same PM/CO/O3, is published as 7
    (20250126, 9, "2846A"),  # AQI 8, every published value gives IAQI <= 7
    (20250127, 18, "3284A"),  # AQI 8, every published value gives IAQI <= 5
}
#: The two station-hours with a 1-hour SO2 above 800 µg/m³ (both published as AQI 200).
SO2_ABOVE_800 = {(20250109, 11, "2647A"), (20250109, 12, "2647A")}


def _station_hours(folder: Path) -> pd.DataFrame:
    """The wide quotsoft files as one row per (date, hour, site) with an AQI or a pollutant."""
    parts = []
    for path in sorted(folder.glob("china_sites_*.csv.gz")):
        day = pd.read_csv(path)
        sites = np.asarray(day.columns[3:], dtype=object)
        values = day.iloc[:, 3:].to_numpy(dtype=np.float64)
        hours = np.sort(day["hour"].unique())
        where = {h: i for i, h in enumerate(hours)}
        columns: dict[str, np.ndarray] = {}
        for kind in TYPES:
            block = np.full((len(hours), len(sites)), np.nan)
            rows = np.flatnonzero((day["type"] == kind).to_numpy())
            block[[where[h] for h in day["hour"].to_numpy()[rows]]] = values[rows]
            columns[kind] = block.ravel()
        frame = pd.DataFrame(
            {
                "date": int(day["date"].iloc[0]),
                "hour": np.repeat(hours, len(sites)),
                "site": np.tile(sites, len(hours)),
                **columns,
            }
        )
        parts.append(frame[frame[TYPES[:7]].notna().any(axis=1)])
    table = pd.concat(parts, ignore_index=True)
    return table.rename(columns={"AQI": "AQI_published"})


def _run_cli(args: list[str], stdout_path: Path) -> None:
    with stdout_path.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-c", "from shanshui.cli import main; main()", "aqi", *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cnemc_csv(
    shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, pd.DataFrame]:
    """The station-hours as a CSV file, their count, and those with 1-hour SO2 > 800."""
    table = _station_hours(shared / "data" / "cnemc" / "china_sites")
    path = tmp_path_factory.mktemp("cnemc") / "station_hours.csv"
    pa_csv.write_csv(pa.Table.from_pandas(table, preserve_index=False), path)  # fast writer
    return path, len(table), table[table["SO2"] > 800]


def _keys(frame: pd.DataFrame) -> set[tuple[int, int, str]]:
    return {
        (int(d), int(h), str(s))
        for d, h, s in zip(frame["date"], frame["hour"], frame["site"], strict=True)
    }


def test_hourly_aqi_equals_cnemc_published_aqi(
    cnemc_csv: tuple[Path, int, pd.DataFrame], tmp_path: Path
) -> None:
    source, n_rows, _ = cnemc_csv
    out_path = tmp_path / "out.csv"
    _run_cli(["hourly", str(source), "--rule", "cnemc"], out_path)
    out = pd.read_csv(
        out_path, usecols=["date", "hour", "site", "AQI_published", "AQI", "PM2.5", "PM10"]
    )
    assert len(out) == n_rows
    published = out[out["AQI_published"].notna()]
    # 30 days x 2,026 stations: 1,124,916 station-hours carry a published AQI
    assert len(published) == 1_124_916
    assert published["AQI"].notna().all()  # a published AQI always has a pollutant to index
    differ = published[published["AQI"] != published["AQI_published"]]
    n_pub, n_differ = len(published), len(differ)
    print(
        f"\nCNEMC hourly AQI match (rule cnemc): {n_pub - n_differ:,} / {n_pub:,} "
        f"station-hours = {1 - n_differ / n_pub:.5%}; with rule hj633 also the "
        f"{len(SO2_ABOVE_800)} SO2 > 800 µg/m³ hours differ: "
        f"{(n_pub - n_differ - len(SO2_ABOVE_800)) / n_pub:.5%}"
    )
    assert _keys(differ) == NOT_A_FUNCTION
    # where CNEMC published no AQI: never one without PM2.5 and PM10, and neither do we
    unpublished = out[out["AQI_published"].isna()]
    no_pm = unpublished[["PM2.5", "PM10"]].isna().all(axis=1)
    assert unpublished.loc[no_pm, "AQI"].isna().all()
    assert out.loc[out[["PM2.5", "PM10"]].isna().all(axis=1), "AQI_published"].isna().all()
    print(
        f"station-hours with values but no published AQI: {len(unpublished):,}, of which "
        f"{int(no_pm.sum()):,} lack PM2.5 and PM10 (no AQI either way) and "
        f"{int((~no_pm).sum()):,} have PM (shanshui computes one)"
    )


def test_so2_above_800_follows_table_1_note_by_default(
    cnemc_csv: tuple[Path, int, pd.DataFrame], tmp_path: Path
) -> None:
    _, _, rows = cnemc_csv
    assert _keys(rows) == SO2_ABOVE_800
    assert rows["AQI_published"].tolist() == [200, 200]
    subset = tmp_path / "so2.csv"
    rows.to_csv(subset, index=False)
    out_path = tmp_path / "out.csv"
    _run_cli(["hourly", str(subset)], out_path)
    out = pd.read_csv(out_path)
    # HJ 633-2012 Table 1 note: the SO2 IAQI of the 24-hour mean (201 and 240 µg/m³):
    #   100 + (201 - 150) * 50 / 325 = 107.8 -> 108;  100 + (240 - 150) * 50 / 325 = 113.8 -> 114
    # and the PM2.5 hours (88 and 110 µg/m³) on the 24-hour breakpoints:
    #   100 + (88 - 75) * 50 / 40 = 116.25 -> 117;  100 + (110 - 75) * 50 / 40 = 143.75 -> 144
    assert out["SO2_24h"].tolist() == [201, 240]
    assert out["PM2.5"].tolist() == [88, 110]
    assert out["IAQI_SO2"].tolist() == [108, 114]
    assert out["AQI"].tolist() == [117, 144]
    assert out["primary_pollutant"].tolist() == ["PM2.5", "PM2.5"]
