"""Damaged files keep their good lines (review 20, findings 3 and 4; issue 4 item 3: bad
rows are reported with file and line, good rows kept).

- One cell that is not UTF-8 (GBK, as a Chinese-locale spreadsheet saves it) made the CSV
  parser fail its whole block: a long CSV or CNEMC file said "cannot read … position 0" and
  kept nothing, a PRSA file blamed its first line.
- A ``.gz`` cut short (an interrupted download) lost every line decompressed by the read
  that met the cut: a file under 4 MiB kept none and was blamed at line 2.

Reference values come from the files themselves: the lines written here, and for the cut
file ``gzip``'s own streaming decompression of the same bytes (``zlib``, as ``zcat`` reads
it), counted with the :mod:`csv` module.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanshui.cli import app

PRSA = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"
CNEMC_GZ = "data/cnemc/china_sites/china_sites_20250102.csv.gz"


def run_import(fmt: str, *args: str | Path) -> Any:
    return CliRunner().invoke(app, ["import", fmt, *map(str, args), "--no-progress"])


def bad_lines(output: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in re.finditer(r"bad row \S+?:(\d+): (.*)", output)}


def count(db: Path) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("select count(*) from observation").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def test_long_csv_gbk_cell_is_one_bad_row(tmp_path: Path) -> None:
    rows = ["site,time,parameter,value,name"] + [
        f"1001A,2025-01-01T0{h}:00:00+08:00,PM2.5,{10 + h},{'万寿西宫' if h == 3 else 'x'}"
        for h in range(6)
    ]
    path = tmp_path / "a.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("gbk"))  # line 5 holds the GBK name
    db = tmp_path / "s.duckdb"
    result = run_import("long", path, "--db", db)
    assert result.exit_code == 0, result.output
    bad = bad_lines(result.output)
    assert list(bad) == [5] and "not UTF-8" in bad[5]
    assert count(db) == 5


def test_cnemc_gbk_cell_is_one_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "china_sites_20250101.csv"
    path.write_bytes(
        b"date,hour,type,1001A,1002A\n20250101,0,PM2.5,31,30\n"
        b"20250101,1,PM2.5,32,\xb6\xab\n20250101,2,PM2.5,33,34\n"
    )
    db = tmp_path / "s.duckdb"
    result = run_import("cnemc", path, "--db", db)
    assert result.exit_code == 0, result.output
    assert list(bad_lines(result.output)) == [3]
    assert count(db) == 4  # lines 2 and 4, two stations each


@pytest.mark.parametrize("chunk", ["100000", "2"])
def test_prsa_gbk_cell_is_one_bad_row_named_by_its_line(
    shared: Path, tmp_path: Path, chunk: str
) -> None:
    lines = (shared / PRSA).read_bytes().split(b"\n")[:6]  # the header and 5 real hours
    assert b'"NNW"' in lines[3]
    lines[3] = lines[3].replace(b'"NNW"', b'"\xb6\xab"')  # GBK 东 in line 4's wd cell
    path = tmp_path / "PRSA_Data_Dongsi_20130301-20170228.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    # the values the other four lines hold (csv module; NA is no value)
    good = list(csv.reader(io.StringIO(b"\n".join(lines[:3] + lines[4:]).decode())))
    header = good[0]
    columns = "PM2.5 PM10 SO2 NO2 CO O3 TEMP PRES DEWP RAIN WSPM wd".split()  # noqa: SIM905
    expected = sum(r[header.index(c)] not in ("NA", "") for r in good[1:] for c in columns)
    db = tmp_path / "s.duckdb"
    result = run_import("prsa", path, "--db", db, "--chunk-lines", chunk)
    assert result.exit_code == 0, result.output
    bad = bad_lines(result.output)
    assert list(bad) == [4] and "not UTF-8" in bad[4]
    assert count(db) == expected


def test_cut_gz_keeps_its_whole_lines_and_names_where_it_ends(shared: Path, tmp_path: Path) -> None:
    cut = (shared / CNEMC_GZ).read_bytes()[:300_000]
    path = tmp_path / "china_sites_20250102.csv.gz"
    path.write_bytes(cut)
    text = zlib.decompressobj(31).decompress(cut)  # what a streaming gunzip recovers
    whole = text[: text.rfind(b"\n") + 1].decode()
    rows = list(csv.reader(io.StringIO(whole)))
    data = rows[1:]
    assert len(data) > 100  # the cut leaves a good part of the day
    # the same whole lines, uncompressed: what the cut file must store
    intact = tmp_path / "intact" / "china_sites_20250102.csv"
    intact.parent.mkdir()
    intact.write_text(whole)
    reference = tmp_path / "r.duckdb"
    assert run_import("cnemc", intact, "--db", reference).exit_code == 0
    db = tmp_path / "s.duckdb"
    result = run_import("cnemc", path, "--db", db)
    assert result.exit_code == 1, result.output  # an unreadable file is an error
    m = re.search(r"cannot read \S+?:(\d+): cannot read \(corrupt file\?\)", result.output)
    assert m is not None, result.output
    assert int(m[1]) == len(data) + 2  # the first line not read whole
    assert count(db) == count(reference) > 0
