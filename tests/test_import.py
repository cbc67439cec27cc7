"""Importers and store-backed reading: real files in, the same canonical table out.

Reference: what :mod:`shanshui.formats` reads from the same shared files (the readers are
tested against the sources in ``test_formats*.py``), station names and 对照点 flags from
CNEMC's station list in ``../shared/data/cnemc/station_lists/`` read directly here, and
hand-written CSV files with known bad lines.
"""

from __future__ import annotations

import csv
import gzip
import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from typer.testing import CliRunner

from shanshui import formats
from shanshui.cli import app
from shanshui.ingest.importers import ImportReport, import_files
from shanshui.store import Store, open_store
from shanshui.store.reading import read_long, station_table

pytest_plugins = ["pg"]

PRSA = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"
CNEMC = [f"data/cnemc/china_sites/china_sites_2025010{d}.csv.gz" for d in (1, 2)]
STATION_LIST = "data/cnemc/station_lists/站点列表-2022.02.13起.csv"
BJ = ZoneInfo("Asia/Shanghai")


def canonical_sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["site", "parameter", "time"], kind="stable").reset_index(drop=True)


def station_list(shared: Path) -> dict[str, tuple[str, bool]]:
    """code → (name without its status note, 对照点 = Y), straight from CNEMC's file."""
    out = {}
    with (shared / STATION_LIST).open(encoding="utf-8-sig", newline="") as fh:
        for row in itertools.islice(csv.reader(fh), 1, None):
            name = row[1].split("(")[0].split("（")[0].strip()
            out[row[0]] = (name, row[5] == "Y")
    return out


def cnemc_stations(shared: Path) -> list[str]:
    """The station codes of the first CNEMC file's header (date,hour,type,<codes>…)."""
    with gzip.open(shared / CNEMC[0], "rt") as fh:
        return fh.readline().strip().split(",")[3:]


def cnemc_excerpt(shared: Path, folder: Path, lines: int = 46) -> Path:
    """The header and first ``lines`` rows (3 hours × 15 types) of a real CNEMC day."""
    out = folder / "china_sites_20250101.csv"
    with gzip.open(shared / CNEMC[0], "rt", encoding="utf-8") as fh:
        out.write_text("".join(itertools.islice(fh, lines)), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def imported(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One PRSA file and two CNEMC days imported into a fresh DuckDB store."""
    store = open_store(tmp_path_factory.mktemp("real") / "store.duckdb")
    files = [shared / PRSA, *(shared / c for c in CNEMC)]
    report = import_files(store, files)
    expected = pd.concat(
        [formats.read_prsa(shared / PRSA), *(formats.read_cnemc(shared / c) for c in CNEMC)],
        ignore_index=True,
    )
    try:
        yield {"store": store, "report": report, "expected": expected, "files": files}
    finally:
        store.close()


def test_real_files_read_back_as_the_readers_read_them(imported: dict[str, Any]) -> None:
    store: Store = imported["store"]
    report: ImportReport = imported["report"]
    expected: pd.DataFrame = imported["expected"]
    assert report.failures == [] and report.bad_count == 0 and report.unknown_sites == []
    assert report.inserted == len(expected) == report.values
    assert report.unchanged == report.corrected == 0
    got = read_long(store, sorted(expected["site"].unique()))
    pd.testing.assert_frame_equal(got, canonical_sorted(expected))


def test_reimport_changes_nothing(imported: dict[str, Any]) -> None:
    store: Store = imported["store"]
    again = import_files(store, imported["files"])
    assert again.inserted == 0 and again.corrected == 0
    assert again.unchanged == len(imported["expected"])
    assert again.created_sites == []
    assert store.audit_log(entity="observation", limit=5) == []


def test_sites_are_created_from_the_national_station_list(
    imported: dict[str, Any], shared: Path
) -> None:
    store: Store = imported["store"]
    listed = station_list(shared)
    with_data = set(imported["expected"]["site"])  # 1003A (PRSA) among them
    assert with_data <= set(cnemc_stations(shared))
    assert set(imported["report"].created_sites) == with_data
    table = station_table(store).set_index("code")
    assert set(table.index) == with_data
    for code in sorted(with_data):
        name, reference = listed[code]
        assert table.loc[code, "name"] == name, code
        assert bool(table.loc[code, "reference"]) is reference, code
        assert table.loc[code, "role"] == ("reference" if reference else "assessment")
    assert table["reference"].any() and not table["reference"].all()
    assert table.loc["1003A", "city"] == "北京" and table.loc["1003A", "region"] == "110000"


def test_city_and_time_range_selection(imported: dict[str, Any], shared: Path) -> None:
    store: Store = imported["store"]
    expected: pd.DataFrame = imported["expected"]
    with (shared / STATION_LIST).open(encoding="utf-8-sig") as fh:
        beijing = {row[0] for row in csv.reader(fh) if row[2] == "北京"}
    table = station_table(store, city="北京")
    assert set(table["code"]) == beijing & set(expected["site"])
    assert set(station_table(store, city="110000")["code"]) == set(table["code"])
    # the natural day 2025-01-01 (00:00-24:00 Beijing, DESIGN §4), PM2.5 only
    got = read_long(
        store, city="北京", start=date(2025, 1, 1), end="2025-01-02", parameters="PM2.5"
    )
    t0, t1 = datetime(2025, 1, 1, tzinfo=BJ), datetime(2025, 1, 2, tzinfo=BJ)
    want = expected[
        expected["site"].isin(beijing)
        & (expected["parameter"] == "PM2.5")
        & (expected["time"] >= t0)
        & (expected["time"] < t1)
    ]
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, canonical_sorted(want))


# -- bad rows, unknown sites, unreadable files ---------------------------------------------------

BAD_CSV = """site,time,parameter,value,flag
1001A,2025-01-01T00:00:00+08:00,PM2.5,12,N
1001A,not-a-time,PM2.5,13,N
1001A,2025-01-01T01:00:00+08:00,PM2.5,abc,N
1001A,2025-01-01T02:00:00+08:00,PM2.5
ZZZ9,2025-01-01T02:00:00+08:00,PM2.5,5,N
1001A,2025-01-01T03:00:00+08:00,CO,0.8,N
"""


def run_cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["import", *map(str, args)])


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_kept(tmp_path: Path) -> None:
    src = tmp_path / "readings.csv"
    src.write_text(BAD_CSV, encoding="utf-8")
    db = tmp_path / "s.duckdb"
    bad_csv = tmp_path / "bad.csv"
    result = run_cli("long", src, "--db", db, "--bad-rows", bad_csv)
    assert result.exit_code == 0, result.output
    for line in (3, 4, 5):
        assert f"{src}:{line}:" in result.stderr
    assert "ZZZ9" in result.stderr and "1 values left out" in result.stderr
    with bad_csv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in rows] == [3, 4, 5]
    assert {r["file"] for r in rows} == {str(src)}
    with open_store(db) as store:
        got = read_long(store, "1001A", parameters=None)
    assert [(str(r.parameter), r.time.isoformat(), r.value) for r in got.itertuples()] == [
        ("CO", "2025-01-01T03:00:00+08:00", 0.8),
        ("PM2.5", "2025-01-01T00:00:00+08:00", 12.0),
    ]
    strict = run_cli("long", src, "--db", db, "--strict")
    assert strict.exit_code == 2


def test_unreadable_file_exits_non_zero_and_the_others_are_imported(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(BAD_CSV.splitlines()[0] + "\n" + BAD_CSV.splitlines()[1] + "\n")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x01 not text\n")
    missing = tmp_path / "missing.csv"
    db = tmp_path / "s.duckdb"
    result = run_cli("auto", missing, garbage, good, "--db", db, "--json")
    assert result.exit_code == 1
    assert f"cannot read {missing}" in result.stderr
    assert f"cannot read {garbage}" in result.stderr
    assert '"inserted": 1' in result.stdout
    with open_store(db) as store:
        assert len(read_long(store, "1001A")) == 1


def test_format_mismatch_is_a_failure(tmp_path: Path, shared: Path) -> None:
    excerpt = tmp_path / "prsa.csv"
    with (shared / PRSA).open() as fh:
        excerpt.write_text("".join(itertools.islice(fh, 50)))
    result = run_cli("cnemc", excerpt, "--db", tmp_path / "s.duckdb")
    assert result.exit_code == 1
    assert "not a cnemc file" in result.stderr


def test_a_changed_value_is_an_audited_correction(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("site,time,parameter,value\n1001A,2025-01-01T00:00:00+08:00,PM2.5,12\n")
    second = tmp_path / "b.csv"
    second.write_text("site,time,parameter,value\n1001A,2025-01-01T00:00:00+08:00,PM2.5,14\n")
    with open_store(tmp_path / "s.duckdb") as store:
        assert import_files(store, first).inserted == 1
        report = import_files(store, second)
        assert (report.inserted, report.unchanged, report.corrected) == (0, 0, 1)
        audit = store.audit_log(entity="observation")
        assert len(audit) == 1 and audit[0].actor == "import"
        assert audit[0].old_value["value"] == 12 and audit[0].new_value["value"] == 14
        assert read_long(store, "1001A")["value"].tolist() == [14.0]


def test_without_site_creation_unlisted_sites_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text(BAD_CSV, encoding="utf-8")
    with open_store(":memory:") as store:
        report = import_files(store, src, "long", create_sites=False)
        assert report.stored == 0
        assert {(u.site, u.values) for u in report.unknown_sites} == {("1001A", 2), ("ZZZ9", 1)}
        assert [b.line for b in report.bad_rows] == [3, 4, 5]


def test_cli_with_progress_bar(tmp_path: Path, shared: Path) -> None:
    src = cnemc_excerpt(shared, tmp_path)
    result = run_cli("cnemc", src, "--db", tmp_path / "s.duckdb", "--progress")
    assert result.exit_code == 0, result.output
    assert "china_sites_20250101.csv" in result.stderr
    assert "inserted" in result.stderr


@pytest.mark.postgres
def test_postgres_round_trip(pg_url: str, shared: Path, tmp_path: Path) -> None:
    """Excerpts of real files on PostgreSQL (COPY both ways): 3 CNEMC hours, 500 PRSA hours."""
    excerpt = tmp_path / "PRSA_Data_Dongsi_excerpt.csv"
    with (shared / PRSA).open() as fh:
        excerpt.write_text("".join(itertools.islice(fh, 501)))
    cnemc = cnemc_excerpt(shared, tmp_path)
    files = [excerpt, cnemc]
    expected = pd.concat([formats.read_prsa(excerpt), formats.read_cnemc(cnemc)], ignore_index=True)
    with open_store(pg_url) as store:
        report = import_files(store, files)
        assert report.inserted == len(expected) and not report.failures
        got = read_long(store, sorted(expected["site"].unique()))
        pd.testing.assert_frame_equal(got, canonical_sorted(expected))
        again = import_files(store, files)
        assert (again.inserted, again.unchanged, again.corrected) == (0, len(expected), 0)
        assert read_long(store, "1003A", start="2099-01-01").empty


def test_unknown_parameter_is_created_with_the_unit_of_its_file(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text(
        "site,time,parameter,value,unit\n"
        "1001A,2025-01-01T00:00:00+08:00,NH3,7.5,ug/m3\n"
        "1001A,2025-01-01T00:00:00+08:00,CO,800,µg/m³\n"  # converted to mg/m³ (GB 3095 Table 1)
    )
    with open_store(":memory:") as store:
        report = import_files(store, src)
        assert report.stored == 2 and sorted(report.created_parameters) == ["CO", "NH3"]
        units = {p.code: (p.unit, p.hj212) for p in store.parameters()}
        assert units == {"CO": ("mg/m³", "a21005"), "NH3": ("µg/m³", None)}
        got = read_long(store, "1001A")
        assert dict(zip(got["parameter"], got["value"], strict=True)) == {"CO": 0.8, "NH3": 7.5}


def test_station_table_of_a_seeded_store_is_the_shipped_station_list() -> None:
    from shanshui.store import seed

    with open_store(":memory:") as store:
        seed(store)
        got = station_table(store)
    want = formats.stations().sort_values("code").reset_index(drop=True)
    cols = ["code", "name", "city", "lon", "lat", "reference", "region", "active"]
    pd.testing.assert_frame_equal(got[cols], want[cols], check_dtype=False)
    assert (got["role"] == "reference").tolist() == got["reference"].tolist()
