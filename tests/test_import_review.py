"""The import defects of review 11 (``/work/notes/review11.md``, findings 1, 2, 3, 5, 6).

Each test fails on the code the review ran (8f00eee). Reference values come from the data
files themselves, counted here with the :mod:`csv` module (cells that are not ``NA`` or
empty), and from the rules the review cites: issue 4 item 3 (bad rows are reported with file
and line, good rows kept), DESIGN §4 (a value is labelled by the start of its period; a
natural day is 00:00–24:00 Beijing time), HJ 633-2012 Table 1 (concentration breakpoints
start at 0, so a concentration below 0 is no concentration).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanshui import formats
from shanshui.cli import app
from shanshui.ingest.importers import ImportReport, import_files
from shanshui.store import open_store
from shanshui.store.reading import read_long

PRSA = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"
CNEMC = "data/cnemc/china_sites/china_sites_20250101.csv.gz"
#: PRSA value columns the reader imports (6 pollutants, 5 meteorological, wd).
PRSA_VALUES = (
    "PM2.5 PM10 SO2 NO2 CO O3 TEMP PRES DEWP RAIN WSPM wd".split()  # noqa: SIM905
)
POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "O3", "CO")
LONG_HEADER = "site,time,parameter,value"


def run_cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["import", *map(str, args)])


def prsa_lines(shared: Path, n: int = 1000) -> list[str]:
    """The first ``n`` lines (header included) of the real Dongsi PRSA file."""
    with (shared / PRSA).open(encoding="utf-8") as fh:
        return list(itertools.islice(fh, n))


def prsa_cells(lines: list[str], skip: set[int] = frozenset()) -> dict[str, int]:
    """Per value column, the cells that hold a value (not ``NA``) in the data lines, leaving
    out the 1-based line numbers ``skip``; counted with the csv module."""
    kept = [line for number, line in enumerate(lines, start=1) if number not in skip]
    rows = list(csv.reader(io.StringIO("".join(kept))))
    header = rows[0]
    counts = dict.fromkeys(PRSA_VALUES, 0)
    for row in rows[1:]:
        for name in PRSA_VALUES:
            counts[name] += row[header.index(name)] not in ("NA", "")
    return counts


def cnemc_lines(shared: Path, n: int = 46) -> list[str]:
    """The header and first ``n - 1`` rows (3 hours × 15 types) of a real CNEMC day."""
    with gzip.open(shared / CNEMC, "rt", encoding="utf-8") as fh:
        return list(itertools.islice(fh, n))


def cnemc_pollutant_cells(lines: list[str], skip: set[int] = frozenset()) -> int:
    """Non-empty station cells of the six pollutants' rows, leaving out lines ``skip``."""
    kept = [line for number, line in enumerate(lines, start=1) if number not in skip]
    rows = list(csv.reader(io.StringIO("".join(kept))))
    return sum(sum(cell != "" for cell in row[3:]) for row in rows[1:] if row[2] in POLLUTANTS)


def bad_lines(report: ImportReport) -> list[tuple[str, int]]:
    return [(Path(b.file).name, b.line) for b in report.bad_rows]


# -------------------------------------------------- finding 2: one unclosed double quote


def unclose_quote(line: str) -> str:
    """``…,"NNW",2.8,"Dongsi"`` → ``…,"NNW,2.8,Dongsi``: the review's broken line (its wind
    direction's quote never closes; the line still has 18 commas-separated fields)."""
    broken, n = re.subn(r',"([A-Z]*)",(.*),"Dongsi"$', r',"\1,\2,Dongsi', line.rstrip("\n"))
    assert n == 1
    return broken + "\n"


@pytest.mark.parametrize("chunk_lines", [None, 100, 83])  # 83: a chunk starts at line 500
def test_prsa_unclosed_quote_is_one_bad_row_and_every_other_row_is_kept(
    shared: Path, tmp_path: Path, chunk_lines: int | None
) -> None:
    """Review finding 2: line 500 of a 1,000-line PRSA file has an unclosed ``"``. Before,
    0 of 999 rows were stored (blamed on line 2), or 400 (blamed on line 402)."""
    lines = prsa_lines(shared)
    lines[499] = unclose_quote(lines[499])  # physical line 500
    src = tmp_path / "prsa_quote.csv"
    src.write_text("".join(lines), encoding="utf-8")
    expected = prsa_cells(lines, skip={500})
    with open_store(":memory:") as store:
        report = import_files(store, src, "prsa", chunk_lines=chunk_lines)
        assert report.ok, report.failures
        assert bad_lines(report) == [("prsa_quote.csv", 500)]
        assert "quote" in report.bad_rows[0].reason
        assert report.lines == 999
        assert report.values == sum(expected.values())
        assert report.inserted == sum(expected.values())
        pm25 = read_long(store, "1003A", parameters=["PM2.5"])
        assert len(pm25) == expected["PM2.5"]


def test_long_and_cnemc_unclosed_quote_do_not_stop_the_run(shared: Path, tmp_path: Path) -> None:
    """Review finding 2: ``import long``/``cnemc``/``auto`` ended in a pandas ParserError
    traceback and never read the files after the bad one."""
    long_quote = tmp_path / "long_quote.csv"
    long_quote.write_text(
        f"{LONG_HEADER}\n"
        "1001A,2025-01-04 01:00,PM2.5,30\n"
        '1001A,"2025-01-04 02:00,PM2.5,31\n'  # line 3: the quote never closes
        "1001A,2025-01-04 03:00,PM2.5,32\n"
    )
    lines = cnemc_lines(shared)
    assert lines[2].startswith("20250101,0,PM2.5,")  # line 3: hour 0 PM2.5
    lines[2] = '"' + lines[2]
    cnemc_quote = tmp_path / "china_sites_20250101.csv"
    cnemc_quote.write_text("".join(lines), encoding="utf-8")
    after = tmp_path / "long_after.csv"
    after.write_text(f"{LONG_HEADER}\n1001A,2025-01-04 04:00,PM2.5,33\n")
    db = tmp_path / "s.duckdb"
    result = run_cli("auto", long_quote, cnemc_quote, after, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    assert f"{long_quote}:3: unclosed double quote" in result.stderr
    assert f"{cnemc_quote}:3: unclosed double quote" in result.stderr
    assert '"bad_rows": 2' in result.stdout
    with open_store(db) as store:
        got = read_long(store, "1001A", parameters=["PM2.5"])
    hours = [t.hour for t in got["time"] if t.date().isoformat() == "2025-01-04"]
    assert sorted(hours) == [1, 3, 4]  # line 3 of long_quote left out, the last file read
    with open_store(":memory:") as store:
        report = import_files(store, cnemc_quote, "cnemc", chunk_lines=10)
    assert bad_lines(report) == [("china_sites_20250101.csv", 3)]
    assert report.values == cnemc_pollutant_cells(lines, skip={3})


def test_a_quote_opened_after_an_even_number_of_quotes_is_found_too(tmp_path: Path) -> None:
    """A line with two ``"`` whose second opens a field that never closes (the first is
    literal inside an unquoted field): not an odd count, found by trying the lines in
    halves. Lines 2 and 4 of 5 break; the three others are kept."""
    src = tmp_path / "long_even.csv"
    src.write_text(
        f"{LONG_HEADER}\n"
        '1001A,2025-01-04 01:00,PM"2.5,"30\n'  # line 2
        "1001A,2025-01-04 02:00,PM2.5,31\n"
        '1001A,2025-01-04 03:00,P"M10,"32\n'  # line 4
        "1001A,2025-01-04 04:00,PM2.5,33\n"
        "1001A,2025-01-04 05:00,PM2.5,34\n"
    )
    chunks = list(formats.iter_long_csv(src))
    assert [b.line for c in chunks for b in c.bad] == [2, 4]
    frame = formats.read_long_csv(src, errors="skip")
    assert frame["value"].tolist() == [31.0, 33.0, 34.0]


# --------------------------------------- finding 3: long-CSV values that do not start a period


def test_long_csv_times_off_the_hour_are_bad_rows_not_extra_hours(tmp_path: Path) -> None:
    """Review finding 3: 20 readings stamped 08:00…08:19 were stored as 20 hourly readings
    (a daily mean then counted 20 hours: GB 3095-2012 Table 4 needs 20 hourly means). DESIGN
    §4: an hourly value is labelled by the start of its hour, so only 08:00 is an hour."""
    src = tmp_path / "long_misaligned.csv"
    rows = [f"1001A,2025-01-04 08:{m:02d},PM2.5,{100 + m}" for m in range(20)]
    src.write_text("\n".join([LONG_HEADER, *rows]) + "\n")
    with open_store(":memory:") as store:
        report = import_files(store, src, "long")
        assert [line for _, line in bad_lines(report)] == list(range(3, 22))
        assert "does not start its hour" in report.bad_rows[0].reason
        got = read_long(store, "1001A", parameters=["PM2.5"])
    assert [(t.isoformat(), v) for t, v in zip(got["time"], got["value"], strict=True)] == [
        ("2025-01-04T08:00:00+08:00", 100.0)
    ]


@pytest.mark.parametrize(
    ("period", "time", "ok"),
    [
        ("day", "2025-01-05 13:00", False),  # the review's case
        ("day", "2025-01-05 00:00", True),
        ("day", "2025-01-04T16:00:00Z", True),  # 00:00 of 2025-01-05 in Beijing
        ("day", "2025-01-05T00:00:00Z", False),  # 08:00 in Beijing
        ("hour", "2025-01-05T05:00:00+05:30", False),  # 07:30 in Beijing
        ("hour", "2025-01-05 07:00:00", True),
        ("minute", "2025-01-05 07:01:30", False),
        ("minute", "2025-01-05 07:01", True),
        ("rt", "2025-01-05 07:01:30.5", True),  # real-time values are instants
    ],
)
def test_long_csv_time_must_start_its_period(
    tmp_path: Path, period: str, time: str, ok: bool
) -> None:
    """DESIGN §4 (label = start of the period; the natural day starts at 00:00 Beijing time),
    checked as the HTTP ingest checks it."""
    src = tmp_path / "one.csv"
    src.write_text(f"{LONG_HEADER}\n1001A,{time},PM2.5,30\n")
    with open_store(":memory:") as store:
        report = import_files(store, src, "long", period=period)
    assert (report.inserted, report.bad_count) == ((1, 0) if ok else (0, 1))


# -------------------------------------------------------------- finding 5: inf in a long CSV


def test_long_csv_infinite_values_are_bad_rows_and_the_next_file_is_read(tmp_path: Path) -> None:
    """Review finding 5: ``inf`` (and ``1e400``, beyond float64) crashed the import
    (``assignment destination is read-only``) and the next file was never read."""
    bad = tmp_path / "long_inf.csv"
    bad.write_text(
        f"{LONG_HEADER}\n"
        "1001A,2025-01-04 10:00,PM2.5,30\n"
        "1001A,2025-01-04 11:00,PM2.5,inf\n"  # line 3
        "1001A,2025-01-04 12:00,PM2.5,1e400\n"  # line 4
        "1001A,2025-01-04 13:00,PM2.5,-inf\n"  # line 5
    )
    good = tmp_path / "long_ok.csv"
    good.write_text(f"{LONG_HEADER}\n1001A,2025-01-04 14:00,PM2.5,31\n")
    with open_store(":memory:") as store:
        report = import_files(store, [bad, good], "long")
        assert report.ok, report.failures
        assert bad_lines(report) == [("long_inf.csv", 3), ("long_inf.csv", 4), ("long_inf.csv", 5)]
        assert all("infinite" in b.reason for b in report.bad_rows)
        got = read_long(store, "1001A", parameters=["PM2.5"])
    assert got["value"].tolist() == [30.0, 31.0]


# ------------------------------------------------------- finding 6: text that looks like markup


def test_cells_and_file_names_that_look_like_markup_print_literally(
    shared: Path, tmp_path: Path
) -> None:
    """Review finding 6: a PRSA cell ``[/b]`` crashed the import (Rich MarkupError) before
    its chunk was written; ``[red]`` vanished from messages."""
    lines = prsa_lines(shared, 11)
    fields = lines[9].split(",")
    fields[5] = "[/b]"  # line 10, PM2.5
    lines[9] = ",".join(fields)
    src = tmp_path / "prsa_markup.csv"
    src.write_text("".join(lines), encoding="utf-8")
    long_src = tmp_path / "[red]long.csv"
    long_src.write_text(f"{LONG_HEADER}\n[b]X,2025-01-04 01:00,PM2.5,30\n1001A,x,PM2.5,1\n")
    db = tmp_path / "s.duckdb"
    result = run_cli("auto", src, long_src, "--db", db)
    assert result.exit_code == 0, result.output
    assert f"{src}:10: column PM2.5: '[/b]' is not a number" in result.stderr
    assert f"{long_src}:3: time is not ISO 8601" in result.stderr
    assert "'[b]X' is neither in the store" in result.stderr
    expected = prsa_cells(lines)
    with open_store(db) as store:
        stored = len(read_long(store, "1003A", parameters=None))
    assert stored == sum(expected.values()) - 1  # only the [/b] cell is left out


# ---------------------------------------------------- finding 1: impossible (negative) values


def test_long_csv_negative_concentrations_are_bad_rows_meteorology_is_not(
    tmp_path: Path,
) -> None:
    """Review finding 1: PM2.5 = −500 was stored as valid. HJ 633-2012 Table 1 starts at
    C = 0 (0 itself is a concentration); temperatures and a parameter in dB may be < 0."""
    src = tmp_path / "long_neg.csv"
    src.write_text(
        "site,time,parameter,value,unit\n"
        "1003A,2015-01-06 00:00,PM2.5,-500,\n"  # 2: bad
        "1003A,2015-01-06 01:00,PM2.5,0,\n"  # 3: zero is a concentration
        "1003A,2015-01-06 00:00,CO,-0.1,mg/m3\n"  # 4: bad
        "1003A,2015-01-06 00:00,TEMP,-5.5,\n"  # 5: meteorology
        "1003A,2015-01-06 00:00,DEWP,-20,\n"  # 6: meteorology
        "1003A,2015-01-06 00:00,benzene,-1,ug/m3\n"  # 7: bad: a concentration by its unit
        "1003A,2015-01-06 00:00,noise,-3,dB(A)\n"  # 8: not a concentration
        "1003A,2015-01-06 00:00,AQI,-1,\n"  # 9: bad: HJ 633-2012 IAQI starts at 0
    )
    with open_store(":memory:") as store:
        report = import_files(store, src, "long")
        assert [line for _, line in bad_lines(report)] == [2, 4, 7, 9]
        assert all("is negative" in b.reason for b in report.bad_rows)
        got = read_long(store, "1003A", parameters=None)
    assert sorted(zip(got["parameter"].astype(str), got["value"], strict=True)) == [
        ("DEWP", -20.0),
        ("PM2.5", 0.0),
        ("TEMP", -5.5),
        ("noise", -3.0),
    ]


def test_prsa_negative_pollutant_cell_is_bad_the_rest_of_its_line_kept(
    shared: Path, tmp_path: Path
) -> None:
    """Review finding 1 for PRSA: a CO cell of −3 was imported. Only that cell is left out;
    the line's other values, and the file's negative dew points and temperatures, are kept."""
    lines = prsa_lines(shared, 200)
    fields = lines[4].split(",")  # line 5
    fields[9] = "-3"  # CO
    lines[4] = ",".join(fields)
    src = tmp_path / "PRSA_neg.csv"
    src.write_text("".join(lines), encoding="utf-8")
    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert any(float(r[13]) < 0 for r in rows[1:] if r[13] != "NA")  # DEWP < 0 in the file
    expected = prsa_cells(lines)
    with open_store(":memory:") as store:
        report = import_files(store, src, "prsa")
        assert bad_lines(report) == [("PRSA_neg.csv", 5)]
        assert report.bad_rows[0].reason.startswith("column CO: -3 is negative")
        assert report.values == sum(expected.values()) - 1
        dewp = read_long(store, "1003A", parameters=["DEWP"])
    assert len(dewp) == expected["DEWP"]
    assert (dewp["value"] < 0).sum() == sum(float(r[13]) < 0 for r in rows[1:] if r[13] != "NA")


def test_cnemc_negative_cell_is_bad_the_rest_of_its_line_kept(shared: Path, tmp_path: Path) -> None:
    """Review finding 1 for CNEMC: a negative station cell is a bad cell (file, line,
    station); the line's other stations are kept."""
    lines = cnemc_lines(shared)
    fields = lines[2].split(",")  # line 3: hour 0 PM2.5
    assert fields[2] == "PM2.5" and fields[3] != ""
    fields[3] = "-5"  # station 1001A
    lines[2] = ",".join(fields)
    src = tmp_path / "china_sites_20250101.csv"
    src.write_text("".join(lines), encoding="utf-8")
    with open_store(":memory:") as store:
        report = import_files(store, src, "cnemc")
    assert bad_lines(report) == [("china_sites_20250101.csv", 3)]
    assert report.bad_rows[0].reason.startswith("column 1001A: -5 is negative")
    assert report.values == cnemc_pollutant_cells(lines) - 1
