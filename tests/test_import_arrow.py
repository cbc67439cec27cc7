"""The Arrow path of the PRSA reader and the importer: same cells, same lines, same store.

References: ``pandas.read_csv`` with its default "no value" set (an independent parser) for
which cells hold a value; hand-written files whose bad lines are known by construction; the
README of ``../shared/data/beijing_multisite`` for the row counts (35,064 hours per station).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shanshui.formats import iter_chunks, iter_prsa, read_prsa
from shanshui.formats.canonical import (
    ARROW_SCHEMA,
    arrow_to_frame,
    constant_strings,
    dict_runs,
    dict_strings,
    frame_to_arrow,
    plain_strings,
)
from shanshui.ingest.importers import distinct, import_files
from shanshui.store import open_store
from shanshui.store.reading import read_long

DONGSI = "data/beijing_multisite/PRSA_Data_Dongsi_20130301-20170228.csv"
POLLUTANTS = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3"]


def _head(shared: Path, lines: int) -> list[str]:
    with (shared / DONGSI).open(encoding="utf-8") as fh:
        return [next(fh).rstrip("\n") for _ in range(lines)]


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes((end.join(lines) + end).encode("utf-8"))
    return path


def test_chunk_table_has_the_arrow_schema_and_equals_the_frame(shared: Path) -> None:
    chunk = next(iter_prsa(shared / DONGSI, 2000))
    table = chunk.table
    assert table.schema == ARROW_SCHEMA
    # compact dictionaries: every dictionary value occurs (ARROW_SCHEMA's promise)
    for name in ("site", "parameter", "flag"):
        for part in table[name].chunks:
            used = set(part.dictionary.take(part.indices).to_pylist())
            assert used == set(part.dictionary.to_pylist())
    frame = chunk.frame
    assert frame.time.dt.tz is not None and str(frame.time.dt.tz) == "Asia/Shanghai"
    back = frame_to_arrow(frame)
    assert back.schema == ARROW_SCHEMA
    pd.testing.assert_frame_equal(arrow_to_frame(back), frame)
    # 2000 hours × 12 parameters minus the NA cells that pandas sees in the same lines
    raw = pd.read_csv(shared / DONGSI, nrows=2000)
    cols = [*POLLUTANTS, "TEMP", "PRES", "DEWP", "RAIN", "WSPM", "wd"]
    assert table.num_rows == int(raw[cols].notna().to_numpy().sum())


def test_no_value_cells_are_those_of_pandas_read_csv(shared: Path, tmp_path: Path) -> None:
    """Every string pandas' default NA set holds reads as "no value"; others are numbers."""
    lines = _head(shared, 9)
    original = pd.read_csv(_write(tmp_path / "PRSA_orig.csv", lines))[POLLUTANTS]
    markers = ["", "NA", "NaN", "nan", "null", "NULL", "N/A", "None"]
    cleared = 0
    for k, marker in enumerate(markers, start=1):
        fields = lines[k].split(",")
        column = 5 + (k % 6)  # one pollutant cell per line
        cleared += fields[column] != "NA"
        fields[column] = marker
        lines[k] = ",".join(fields)
    path = _write(tmp_path / "PRSA_na.csv", lines)
    got = read_prsa(path, meteorology=False)
    want = pd.read_csv(path)[POLLUTANTS].notna().to_numpy().sum()  # the reference parser
    assert len(got) == want == original.notna().to_numpy().sum() - cleared


def test_bad_lines_keep_their_physical_numbers_across_blank_and_crlf_lines(
    shared: Path, tmp_path: Path
) -> None:
    lines = _head(shared, 12)  # header + 11 good lines
    lines.insert(2, "")  # line 3 blank
    lines.insert(3, "")  # line 4 blank
    lines[5] = lines[5] + ",1,2"  # line 6: 20 fields
    lines[7] = ",".join(lines[7].split(",")[:10])  # line 8: 10 fields
    fields = lines[9].split(",")
    fields[6] = "12x"  # line 10: PM10 not a number, the rest of the line kept
    lines[9] = ",".join(fields)
    fields = lines[11].split(",")
    fields[7] = "inf"  # line 12: SO2 infinite
    lines[11] = ",".join(fields)
    path = _write(tmp_path / "PRSA_crlf.csv", lines, end="\r\n")
    chunks = list(iter_chunks(path, chunk_rows=5))
    bad = {b.line: b.reason for c in chunks for b in c.bad}
    assert set(bad) == {6, 8, 10, 12}
    assert bad[6] == "expected 18 fields, found 20"
    assert bad[8] == "expected 18 fields, found 10"
    assert "column PM10" in bad[10] and "12x" in bad[10]
    assert "column SO2: infinite" in bad[12]
    assert sum(c.lines for c in chunks) == len(lines) - 1
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert frame.time.nunique() == 11 - 2  # lines 6 and 8 dropped whole
    # line 10 (No = 7, hour 6: canonical 05:00, the hour label being its end) keeps its
    # other pollutants, not its PM10
    hour = pd.Timestamp("2013-03-01 05:00", tz="Asia/Shanghai")
    at = frame[frame.time == hour]
    assert "PM10" not in set(at.parameter) and "PM2.5" in set(at.parameter)


def test_read_prsa_matches_the_whole_file_counts_of_the_readme(shared: Path) -> None:
    """README: 35,064 rows per station; one value per non-NA cell, times unique per
    parameter."""
    frame = read_prsa(shared / DONGSI, meteorology=False)
    raw = pd.read_csv(shared / DONGSI)
    assert len(raw) == 35064
    assert len(frame) == int(raw[POLLUTANTS].notna().to_numpy().sum())
    assert not frame.duplicated(["parameter", "time"]).any()


def test_plain_strings_equals_a_cast() -> None:
    runs = dict_runs(["PM2.5", "", "CO", "µg"], np.array([3, 2, 0, 4]))
    assert runs.dictionary.to_pylist() == ["PM2.5", "", "µg"]  # compact: CO has no row
    rng = np.random.default_rng(1)
    shuffled = dict_strings(["a", "bb", "ccc"], rng.integers(0, 2, 500))
    assert shuffled.dictionary.to_pylist() == ["a", "bb"]
    with_null = pa.DictionaryArray.from_arrays(pa.array([0, None, 1], pa.int32()), ["x", "y"])
    for array in (runs, shuffled, with_null, dict_runs(["N"], np.array([7]))):
        column = pa.chunked_array([array, array])
        assert plain_strings(column).equals(column.cast(pa.string()))
        wide = plain_strings(column, pa.large_string())
        assert wide.equals(column.cast(pa.large_string()))
    assert constant_strings("avg", 3).to_pylist() == ["avg"] * 3
    assert constant_strings("", 2).to_pylist() == ["", ""]
    assert constant_strings("N", 2, pa.large_string()).type == pa.large_string()


def test_distinct_of_a_filtered_dictionary_column() -> None:
    column = pa.chunked_array([dict_strings(["1001A", "1002A"], np.array([0, 1, 1]))])
    kept = column.filter(pa.array([False, True, True]))
    assert distinct(kept) == ["1002A"]  # computed on the codes
    assert distinct(kept, compact=True) == ["1001A", "1002A"]  # the dictionary as it is
    assert distinct(kept.cast(pa.string())) == ["1002A"]


def test_import_of_a_prsa_excerpt_equals_the_reader_and_reimports_nothing(
    shared: Path, tmp_path: Path
) -> None:
    excerpt = _write(tmp_path / "PRSA_Data_Dongsi_excerpt.csv", _head(shared, 301))
    expected = read_prsa(excerpt)
    with open_store(tmp_path / "s.duckdb") as store:
        report = import_files(store, excerpt, "prsa", chunk_lines=70)
        assert report.inserted == len(expected) and report.lines == 300
        assert report.created_sites == ["1003A"]
        got = read_long(store, "1003A", parameters=None)
        key = ["parameter", "time"]
        want = expected.sort_values(key, ignore_index=True)
        got = got.sort_values(key, ignore_index=True)
        assert got["value"].tolist() == pytest.approx(want["value"].tolist())
        assert (got["time"] == want["time"]).all()
        again = import_files(store, excerpt, "prsa")
        assert (again.inserted, again.unchanged, again.corrected) == (0, len(expected), 0)


def test_frame_chunks_convert_categoricals_compactly() -> None:
    frame = pd.DataFrame(
        {
            "site": pd.Categorical(["1001A"], categories=["1001A", "1002A"]),
            "time": pd.Series(pd.to_datetime(["2025-01-01T00:00+08:00"])).dt.as_unit("us"),
            "parameter": pd.array(["SO2"], dtype="str"),
            "value": [1.0],
            "flag": pd.array(["N"], dtype="str"),
        }
    )
    table = frame_to_arrow(frame)
    assert table["site"].chunk(0).dictionary.to_pylist() == ["1001A"]
    naive = frame.assign(time=frame.time.dt.tz_localize(None))
    with pytest.raises(TypeError):
        frame_to_arrow(naive)


def test_cli_prsa_reports_bad_lines_and_keeps_the_good_ones(shared: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shanshui.cli import app

    lines = _head(shared, 25)  # 24 hours of Dongsi
    lines[5] = lines[5] + ",9"  # line 6: 19 fields
    src = _write(tmp_path / "PRSA_Data_Dongsi_day.csv", lines)
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(app, ["import", "prsa", str(src), "--db", str(db), "--progress"])
    assert result.exit_code == 0, result.output
    assert f"{src}:6: expected 18 fields, found 19" in result.stderr
    good = read_prsa(_write(tmp_path / "good.csv", lines[:5] + lines[6:]))
    with open_store(db) as store:
        stored = read_long(store, "1003A", parameters=None)
    assert len(stored) == len(good) and stored["time"].nunique() == 23


def test_a_file_of_two_stations_reads_as_the_two_files_apart(shared: Path, tmp_path: Path) -> None:
    import gzip

    other = shared / DONGSI.replace("Dongsi", "Tiantan")
    with other.open(encoding="utf-8") as fh:
        tiantan = [next(fh).rstrip("\n") for _ in range(50)]
    dongsi = _head(shared, 50)
    mixed = tmp_path / "PRSA_mixed.csv.gz"  # gzip too
    mixed.write_bytes(gzip.compress(("\n".join(dongsi + tiantan[1:]) + "\n").encode()))
    got = read_prsa(mixed)
    apart = pd.concat(
        [
            read_prsa(_write(tmp_path / "a.csv", dongsi)),
            read_prsa(_write(tmp_path / "b.csv", tiantan)),
        ],
        ignore_index=True,
    )
    key = ["site", "parameter", "time"]
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True), apart.sort_values(key, ignore_index=True)
    )
    assert set(got.site) == {"1003A", "1004A"}  # Dongsi, Tiantan (stations.csv in shared)


def test_runs_reach_the_store_in_key_order(shared: Path, tmp_path: Path) -> None:
    """The importer orders a chunk's (site, parameter) runs by the store's ids; the rows are
    the same ones."""
    from shanshui.ingest.importers import Importer

    chunk = next(iter_prsa(_write(tmp_path / "PRSA_day.csv", _head(shared, 25)), 100))
    with open_store(":memory:") as store:
        importer = Importer(store)
        import_files(store, tmp_path / "PRSA_day.csv", "prsa")  # registers site, parameters
        ids = store.parameter_ids(distinct(chunk.table["parameter"]))
        ordered = importer._in_key_order(chunk.table)
        runs = [v for v, _ in itertools.groupby(ordered["parameter"].to_pylist())]
        assert [ids[p] for p in runs] == sorted(ids.values())
        assert sorted(ordered.to_pylist(), key=repr) == sorted(chunk.table.to_pylist(), key=repr)
        assert importer._in_key_order(ordered) is ordered  # in order already: unchanged
