"""The permit model and its files (docs/permits.md): the shipped example, and bad input that
must name the file and the field and produce nothing.

Reference values: GB 13223-2011 Table 2 special limits for coal-fired boilers (particulate 20,
SO2 50, NOx 100 mg/m³ at 6 % O2), as in ``reference/sources/gb13223_limits.csv``.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.errors import PeerError
from shanshui.permits import Limit, PermitError, permit_from_dict, read_limits_csv, read_permit
from shanshui.store import Parameter, open_store

EXAMPLE = Path(str(resources.files("shanshui") / "data/sources/example_permit.json"))


def _doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_example_permit_carries_the_gb13223_table2_special_limits(shared: Path) -> None:
    permit = read_permit(EXAMPLE)
    assert permit.synthetic and "SYNTHETIC" in (permit.note or "")
    table = {}
    with open(shared / "reference/sources/gb13223_limits.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["unit_type"] == "coal-fired boiler" and row["source"] == "GB 13223-2011 Table 2":
                table[row["pollutant"]] = (
                    float(row["limit_mg_m3"]),
                    float(row["reference_O2_percent"]),
                )
    codes = {"a34013": "particulate", "a21026": "SO2", "a21002": "NOx (as NO2)"}
    for outlet in (permit.outlet("DA001"), permit.outlet("DA002")):
        assert outlet is not None and outlet.kind == "air"
        for code, name in codes.items():
            lim = outlet.limit(code)
            assert lim is not None and lim.converted
            assert (lim.hourly, lim.reference_o2) == table[name]
            assert lim.standard and "GB 13223-2011" in lim.standard
    assert permit_from_dict(permit.to_dict()) == permit  # the layout round-trips


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.__setitem__("valid_to", "2023-13-01"), "valid_to"),
        (lambda d: d.__setitem__("valid_to", "2023-01-01"), "valid_to"),
        (lambda d: d["outlets"][0].__setitem__("type", "main"), "outlets[0].type"),
        (lambda d: d["outlets"][1]["limits"][2].__setitem__("hourly", "lots"),
         "outlets[1].limits[2].hourly"),
        (lambda d: d["outlets"][0]["limits"][0].__setitem__("hourly", -5),
         "outlets[0].limits[0].hourly"),
        (lambda d: d["outlets"][0]["limits"][0].pop("reference_o2"),
         "outlets[0].limits[0].reference_o2"),
        (lambda d: d["outlets"][1].__setitem__("code", "DA001"), "outlets[1]"),
        (lambda d: d["totals"][0].__setitem__("year", 2026.5), "totals[0].year"),
        (lambda d: d["outlets"][0]["monitoring"][0].__setitem__("mode", "sometimes"),
         "outlets[0].monitoring[0].mode"),
        # review 22: an interval of 0.5 s was stored as 0 and then broke every permit read;
        # 3e9 overflowed the store's column
        (lambda d: d["outlets"][0].__setitem__("reporting_interval_s", 0.5),
         "outlets[0].reporting_interval_s"),
        (lambda d: d["outlets"][0].__setitem__("reporting_interval_s", 3e9),
         "outlets[0].reporting_interval_s"),
        # a reference O2 without converted was compared on the measured basis
        (lambda d: d["outlets"][0]["limits"][0].__setitem__("converted", False),
         "outlets[0].limits[0].converted"),
        # a name instead of the HJ 212-2017 code matches no reading
        (lambda d: d["outlets"][0]["limits"][0].__setitem__("parameter", "SO2"),
         "outlets[0].limits[0].parameter"),
        (lambda d: d["totals"][0].__setitem__("parameter", "SO2"), "totals[0].parameter"),
    ],
)  # fmt: skip
def test_bad_permits_name_the_file_and_field(tmp_path: Path, change: Any, field: str) -> None:
    doc = _doc()
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PermitError) as info:
        read_permit(path)
    assert info.value.field == field and info.value.source == str(path)
    assert str(path) in str(info.value) and isinstance(info.value, PeerError)


def test_limits_csv_replaces_the_named_outlets_limits(tmp_path: Path) -> None:
    table = tmp_path / "limits.csv"
    table.write_text(
        "outlet,parameter,unit,hourly,converted,reference_o2,standard\n"
        "DA001,a34013,mg/m³,10,true,6,超低排放\n"
        "DA001,a21026,mg/m³,35,true,6,超低排放\n",
        encoding="utf-8",
    )
    permit = read_permit(EXAMPLE, limits_csv=table)
    da1, da2 = permit.outlet("DA001"), permit.outlet("DA002")
    assert da1 is not None and da2 is not None
    assert [lim.parameter for lim in da1.limits] == ["a34013", "a21026"]
    assert da1.limit("a21026") == Limit("a21026", "mg/m³", 35.0, None, True, 6.0, None, "超低排放")
    assert len(da2.limits) == 3  # untouched
    bad = tmp_path / "bad.csv"
    bad.write_text("outlet,parameter,unit,hourly\nDA001,a21026,mg/m³,x\n", encoding="utf-8")
    with pytest.raises(PermitError, match=r"bad\.csv: line 2, column hourly"):
        read_limits_csv(bad)
    other = tmp_path / "other.csv"
    other.write_text("outlet,parameter,unit,hourly\nDA404,a21026,mg/m³,3\n", encoding="utf-8")
    with pytest.raises(PermitError, match="DA404"):
        read_permit(EXAMPLE, limits_csv=other)


def test_cli_imports_lists_shows_and_refuses_bad_files(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "s.duckdb"
    bad = tmp_path / "bad.json"
    doc = _doc()
    doc["outlets"][0]["limits"][0]["hourly"] = "x"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    refused = runner.invoke(app, ["permits", "import", str(bad), "--db", str(db)])
    assert refused.exit_code == 1
    assert "outlets[0].limits[0].hourly" in refused.output
    with open_store(db) as store:
        assert store.permits() == [] and store.audit_log(entity="permit") == []
    done = runner.invoke(app, ["permits", "import", str(EXAMPLE), "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert "stored; 3 outlets, 8 limits, 8 annual totals" in done.output
    again = runner.invoke(app, ["permits", "import", str(EXAMPLE), "--db", str(db)])
    assert "unchanged" in again.output
    listed = runner.invoke(app, ["permits", "list", "--db", str(db)])
    assert "SYN-PLANT01" in listed.output and "SYNTHETIC" in listed.output
    pid = read_permit(EXAMPLE).id
    shown = runner.invoke(app, ["permits", "show", pid, "--db", str(db)])
    assert json.loads(shown.output) == read_permit(EXAMPLE).to_dict()
    assert runner.invoke(app, ["permits", "show", "nope", "--db", str(db)]).exit_code == 1
    # two hours of SO2 at 40 mg/m³ with 11 % O2 → 60 mg/m³ at 6 % O2 (GB 13223-2011 §5.2)
    # > 50: one exceedance alarm, open (rules in shanshui/rules/__init__.py); the device
    # still reporting (02:00-02:09, an hour not judged yet) when the rules run at 02:10
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        ("SYN-PLANT01-DA001", code, "avg", "minute", t0 + timedelta(minutes=m), v, "N")
        for m in range(130)
        for code, v in (("a21026", 40.0), ("a19001", 11.0))
    ]
    with open_store(db) as store:
        store.upsert_parameters(
            [
                Parameter("a21026", "SO2", "mg/m³", "a21026"),
                Parameter("a19001", "O2", "%", "a19001"),
            ]
        )
        cols = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
        store.write_observations(pd.DataFrame(rows, columns=cols))
    # 10:10 Beijing: hour 01:00 UTC judged once its records are due (rules: "Time labels")
    args = ["permits", "evaluate", "--db", str(db), "--now", "2026-03-01T10:10:00+08:00"]
    evaluated = runner.invoke(app, args)
    assert evaluated.exit_code == 0, evaluated.output
    assert "1 opened, 0 updated, 0 closed; 1 not closed" in evaluated.output
    assert (
        "exceedance\tSYN-PLANT01-DA001\ta21026\t2026-03-01T00:00:00+00:00\t2 h" in evaluated.output
    )
    assert runner.invoke(app, [*args[:-1], "2026-03-01T10:00:00"]).exit_code == 2


def test_a_stored_permit_stays_readable_under_rules_added_later(tmp_path: Path) -> None:
    """The input rules added by review 22 do not apply to a document read back from the
    store: one old permit must not stop every permit read (finding 1's failure mode)."""
    doc = _doc()
    doc["outlets"][0]["limits"][0]["converted"] = False  # allowed before, refused now
    with pytest.raises(PermitError):
        permit_from_dict(doc)
    old = permit_from_dict(doc, strict=False)
    assert not old.outlets[0].limits[0].converted
    # an interval of 0.5 s used to be stored as 0: read back with the default 60 s
    doc["outlets"][0]["reporting_interval_s"] = 0
    assert permit_from_dict(doc, strict=False).outlets[0].reporting_interval_s == 60
