"""Units of a long CSV's own parameters, and the import's summary (review 20, findings 2
and 6).

Before, a parameter outside the built-in list took the first unit of each chunk and every
row was stored unconverted whatever its unit: 0.06 mg/m³ of NH3 became 0.06 µg/m³, and a
``ppb`` value was labelled µg/m³ (the module's own rule: a unit must be the parameter's or a
mass concentration that converts exactly, µg/m³ ↔ mg/m³ by 1000). And a reading repeated
within an import with another value replaced the earlier one with an audit entry, while the
summary said "0 corrected".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.store import open_store
from shanshui.store.reading import read_long

HEADER = "site,time,parameter,value,unit\n"


def run_import(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["import", "long", *map(str, args), "--no-progress"])


def nh3(db: Path) -> dict[str, float]:
    with open_store(db) as store:
        got = read_long(store, "1001A", parameters=["NH3"])
        unit = {p.code: p.unit for p in store.parameters()}["NH3"]
    assert unit == "µg/m³"
    local = got["time"].dt.tz_convert("Asia/Shanghai").dt.strftime("%H")
    return dict(zip(local, got["value"], strict=True))


def test_units_of_a_new_parameter_convert_to_its_first_or_are_bad_rows(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text(
        HEADER + "1001A,2025-01-01T00:00:00+08:00,NH3,50,ug/m3\n"
        "1001A,2025-01-01T01:00:00+08:00,NH3,0.06,mg/m3\n"
        "1001A,2025-01-01T02:00:00+08:00,NH3,7,ppb\n"
        "1001A,2025-01-01T03:00:00+08:00,NH3,40,\n"
    )
    db = tmp_path / "s.duckdb"
    # one line per chunk: the unit the file named first holds across chunks
    result = run_import(first, "--db", db, "--chunk-lines", "1")
    assert result.exit_code == 0, result.output
    bad = {int(m[1]): m[2] for m in re.finditer(r"bad row \S+?:(\d+): (.*)", result.output)}
    assert list(bad) == [4] and "'ppb'" in bad[4] and "µg/m³" in bad[4]
    # 0.06 mg/m³ = 60 µg/m³; a row without a unit is in the parameter's own
    assert nh3(db) == {"00": 50.0, "01": 60.0, "03": 40.0}
    # a later import converts to the unit the store holds, not to its own first one
    second = tmp_path / "b.csv"
    second.write_text(HEADER + "1001A,2025-01-01T05:00:00+08:00,NH3,0.08,mg/m3\n")
    assert run_import(second, "--db", db).exit_code == 0
    assert nh3(db)["05"] == 80.0


def test_summary_counts_readings_replaced_within_the_import(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "site,time,parameter,value\n"
        "1001A,2025-01-01T00:00:00+08:00,PM2.5,10\n"
        "1001A,2025-01-01T00:00:00+08:00,PM2.5,20\n"
        "1001A,2025-01-01 00:00,PM2.5,30\n"
    )
    db = tmp_path / "s.duckdb"
    result = run_import(path, "--db", db)
    assert result.exit_code == 0, result.output
    assert "1 inserted" in result.output
    assert "2 replaced by a later row" in result.output
    with open_store(db) as store:
        assert read_long(store, "1001A", parameters=["PM2.5"])["value"].tolist() == [30.0]
