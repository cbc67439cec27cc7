"""Times an import refuses as bad rows (review 20, finding 1): a placeholder date and a date
in the future.

Before, a row dated ``0001-01-01`` (an export's "no date", an unset logger clock) crashed
``shanshui import`` with a traceback (0001-01-01 00:00 Beijing time is year 0 in UTC, which
Python's ``datetime`` cannot hold), storing nothing of that file or of the files after it;
a row dated 2099 was stored and would stand as the site's latest value. Issue 4 item 3: bad
rows are reported with file and line, good rows kept. The bounds are
``shanshui.formats.validity``'s (1970-01-01 UTC, the read API's first day; 10 minutes ahead
of the clock, the gateway's and the HTTP ingest's slack).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.formats.validity import time_out_of_range
from shanshui.store import open_store
from shanshui.store.reading import read_long

PRSA = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"


def run_import(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["import", *map(str, args), "--no-progress"])


def bad_lines(output: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in re.finditer(r"bad row \S+?:(\d+): (.*)", output)}


def test_time_out_of_range_bounds() -> None:
    hour = 3_600_000_000
    beijing = 8 * hour
    now = 1_764_000_000.0  # 2025-11-24 16:00 UTC
    local = np.array(
        [
            0 + beijing,  # 1970-01-01 00:00 UTC: the first time allowed
            -1 + beijing,  # a µs before it
            int(now * 1e6) + 600_000_000 + beijing,  # the slack's end
            int(now * 1e6) + 600_000_001 + beijing,  # a µs past it
        ],
        dtype=np.int64,
    )
    assert time_out_of_range(local, now).tolist() == [False, True, False, True]


def test_long_csv_placeholder_and_future_dates_are_bad_rows_next_file_read(
    tmp_path: Path,
) -> None:
    first = tmp_path / "a.csv"
    first.write_text(
        "site,time,parameter,value\n"
        "1001A,2025-01-01T00:00:00+08:00,PM2.5,10\n"
        "1001A,0001-01-01 00:00,PM2.5,11\n"
        "1001A,2099-06-01T00:00:00+08:00,PM2.5,13\n"
        "1001A,2025-01-01T01:00:00+08:00,PM2.5,12\n"
    )
    second = tmp_path / "b.csv"
    second.write_text("site,time,parameter,value\n1002A,2025-01-01T00:00:00+08:00,PM2.5,20\n")
    db = tmp_path / "s.duckdb"
    result = run_import("long", first, second, "--db", db)
    assert result.exit_code == 0, result.output
    bad = bad_lines(result.output)
    assert sorted(bad) == [3, 4]
    assert "before 1970-01-01" in bad[3]
    assert "future" in bad[4]
    with open_store(db) as store:
        got = read_long(store, ["1001A", "1002A"], parameters=["PM2.5"])
    assert sorted(got["value"].tolist()) == [10.0, 12.0, 20.0]


def test_cnemc_placeholder_date_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "china_sites_20250101.csv"
    path.write_text("date,hour,type,1001A\n20250101,1,PM2.5,31\n00010101,0,PM10,50\n")
    db = tmp_path / "s.duckdb"
    result = run_import("cnemc", path, "--db", db)
    assert result.exit_code == 0, result.output
    bad = bad_lines(result.output)
    assert list(bad) == [3] and "before 1970-01-01" in bad[3]
    with open_store(db) as store:
        got = read_long(store, ["1001A"], parameters=["PM2.5", "PM10"])
    assert got["value"].tolist() == [31.0]


def test_prsa_placeholder_and_future_dates_are_bad_rows(shared: Path, tmp_path: Path) -> None:
    with (shared / PRSA).open(encoding="utf-8") as fh:
        lines = list(itertools.islice(fh, 4))  # the header and the real first three hours
    # line 3 dated year 1, line 4 dated 2099: the other cells as the real file's
    fields = lines[2].split(",")
    fields[1:5] = ["1", "1", "1", "0"]
    lines[2] = ",".join(fields)
    fields = lines[3].split(",")
    fields[1] = "2099"
    lines[3] = ",".join(fields)
    path = tmp_path / "PRSA_Data_Dongsi_20130301-20170228.csv"
    path.write_text("".join(lines))
    db = tmp_path / "s.duckdb"
    result = run_import("prsa", path, "--db", db)
    assert result.exit_code == 0, result.output
    bad = bad_lines(result.output)
    assert sorted(bad) == [3, 4]
    assert "before 1970-01-01" in bad[3] and "future" in bad[4]
    with open_store(db) as store:
        got = read_long(store, parameters=["NO2"])
    # only line 2's hour is stored: labelled 2013-03-01 hour 0, the mean of the hour ending
    # then (the reader's default, shanshui.formats.prsa), which starts 2013-02-28 23:00
    hours = got["time"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H")
    assert hours.tolist() == ["2013-02-28 23"]
