"""Readers of shanshui.formats against the real shared files.

Reference values are read from the raw files with the csv module (independent of pandas and
of the code under test); facts about the files come from
``../shared/data/cnemc/README.md`` and ``../shared/data/beijing_multisite/README.md``.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shanshui.errors import PeerError
from shanshui.formats import (
    DERIVED,
    POLLUTANTS,
    UNITS,
    FormatError,
    detect_format,
    iter_chunks,
    read_any,
    read_cnemc,
    read_long_csv,
    read_prsa,
)


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="Asia/Shanghai")


def cnemc_file(shared: Path, day: str) -> Path:
    return shared / "data" / "cnemc" / "china_sites" / f"china_sites_{day}.csv.gz"


def prsa_file(shared: Path, station: str) -> Path:
    return shared / "data" / "beijing_multisite" / f"PRSA_Data_{station}_20130301-20170228.csv"


def raw_rows(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def lookup(frame: pd.DataFrame, site: str, time: pd.Timestamp, parameter: str) -> float:
    hit = frame[(frame.site == site) & (frame.time == time) & (frame.parameter == parameter)]
    assert len(hit) == 1, (site, time, parameter, len(hit))
    return float(hit.value.iloc[0])


# ----------------------------------------------------------------------------- CNEMC


@pytest.fixture(scope="module")
def jan04(shared: Path) -> tuple[list[list[str]], pd.DataFrame, pd.DataFrame]:
    path = cnemc_file(shared, "20250104")
    return raw_rows(path), read_cnemc(path), read_cnemc(path, derived=True)


def test_cnemc_columns_dtypes_and_units(jan04) -> None:
    _, frame, _ = jan04
    assert list(frame.columns) == ["site", "time", "parameter", "value", "flag"]
    assert str(frame.time.dt.tz) == "Asia/Shanghai"
    assert frame.value.dtype == np.float64
    assert set(frame.parameter.unique()) == set(POLLUTANTS)
    assert set(frame.flag.unique()) == {"N"}
    assert UNITS["CO"] == "mg/m³" and UNITS["PM2.5"] == "µg/m³"


def test_cnemc_row_count_equals_non_empty_cells(jan04) -> None:
    rows, frame, derived = jan04
    header, body = rows[0], rows[1:]
    assert header[:3] == ["date", "hour", "type"] and len(header) == 3 + 2026
    measured = sum(1 for r in body if r[2] in POLLUTANTS for cell in r[3:] if cell != "")
    every = sum(1 for r in body for cell in r[3:] if cell != "")
    assert len(frame) == measured
    assert len(derived) == every


def test_cnemc_incomplete_day_and_hour_shift(jan04) -> None:
    """README: 20250104 has 21 hours (05-07 missing). Label h -> start h-1 (hour 0 -> 23:00
    the day before)."""
    rows, frame, _ = jan04
    hours_in_file = sorted({int(r[1]) for r in rows[1:]})
    assert len(hours_in_file) == 21 and {5, 6, 7}.isdisjoint(hours_in_file)
    starts = sorted(frame.time.unique())
    assert len(starts) == 21
    assert starts[0] == t("2025-01-03 23:00")
    assert starts[-1] == t("2025-01-04 22:00")
    missing = {t("2025-01-04 04:00"), t("2025-01-04 05:00"), t("2025-01-04 06:00")}
    assert missing.isdisjoint(starts)


def as_dict(frame: pd.DataFrame, sites: set[str]) -> dict[tuple[str, pd.Timestamp, str], float]:
    sub = frame[frame.site.isin(sites)]
    keys = zip(sub.site, sub.time, sub.parameter, strict=True)
    return dict(zip(keys, sub.value, strict=True))


def test_cnemc_sample_cells(jan04) -> None:
    rows, frame, derived = jan04
    header = rows[0]
    sites = {"1001A", "1003A", "3584A", "1622A", "3867A"}
    measured, every = as_dict(frame, sites), as_dict(derived, sites)
    checked = 0
    for r in rows[1:]:
        hour, kind = int(r[1]), r[2]
        start = t("2025-01-04") + pd.Timedelta(hours=hour - 1)
        for code in sites:
            cell = r[header.index(code)]
            key = (code, start, kind)
            if cell == "":
                assert key not in every
                continue
            assert every[key] == float(cell)
            assert measured.get(key) == (float(cell) if kind in POLLUTANTS else None)
            checked += 1
    assert checked > 1000


def test_cnemc_known_values(jan04) -> None:
    """Hand-read from the file: 20250104,0,PM2.5 → 1001A = 40; 20250104,0,CO → 1001A = 0.5."""
    _, frame, derived = jan04
    assert lookup(frame, "1001A", t("2025-01-03 23:00"), "PM2.5") == 40.0
    assert lookup(frame, "1001A", t("2025-01-03 23:00"), "CO") == 0.5
    assert lookup(derived, "1001A", t("2025-01-03 23:00"), "AQI") == 65.0
    assert lookup(derived, "1001A", t("2025-01-03 23:00"), "O3_8h") == 47.0
    # every derived type appears except O3_24h, which is empty in the whole file
    assert set(DERIVED) - {"O3_24h"} == set(derived.parameter.unique()) - set(POLLUTANTS)


def test_cnemc_hour_label_start(shared: Path) -> None:
    path = cnemc_file(shared, "20250108")
    end = read_cnemc(path)
    start = read_cnemc(path, hour_label="start")
    assert (start.time - end.time == pd.Timedelta(hours=1)).all()
    assert start.time.min() == t("2025-01-08 00:00")


def test_cnemc_several_files_and_23_hour_days(shared: Path) -> None:
    """README: 20250108 has 23 hours."""
    days = ["20250107", "20250108"]
    frame = read_cnemc([cnemc_file(shared, d) for d in days])
    hours_8 = {int(r[1]) for r in raw_rows(cnemc_file(shared, "20250108"))[1:]}
    assert len(hours_8) == 23
    assert frame.time.nunique() == 24 + 23
    assert not frame.duplicated(["site", "time", "parameter"]).any()


# ----------------------------------------------------------------------------- PRSA


@pytest.fixture(scope="module")
def aoti(shared: Path) -> tuple[list[list[str]], pd.DataFrame]:
    path = prsa_file(shared, "Aotizhongxin")
    return raw_rows(path), read_prsa(path)


def test_prsa_counts_match_readme_na_counts(aoti) -> None:
    """README: Aotizhongxin has 925 missing PM2.5, 718 PM10, 935 SO2, 1023 NO2, 1776 CO,
    1719 O3, 81 wd values, of 35,064 rows."""
    rows, frame = aoti
    assert len(rows) == 35065
    counts = frame.parameter.value_counts()
    missing = {"PM2.5": 925, "PM10": 718, "SO2": 935, "NO2": 1023, "CO": 1776, "O3": 1719}
    for name, n_missing in missing.items():
        assert counts[name] == 35064 - n_missing
    assert counts["WD"] == 35064 - 81
    non_na = sum(1 for r in rows[1:] for cell in r[5:17] if cell != "NA")
    assert len(frame) == non_na
    assert set(frame.site.unique()) == {"1011A"}


def test_prsa_values_co_unit_and_hour_shift(aoti) -> None:
    """First data line: 1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,"NNW",4.4 → hour 0 of
    2013-03-01 (CNEMC convention) starts 2013-02-28 23:00; CO 300 µg/m³ = 0.3 mg/m³."""
    rows, frame = aoti
    start = t("2013-02-28 23:00")
    assert lookup(frame, "1011A", start, "CO") == pytest.approx(0.3)
    assert lookup(frame, "1011A", start, "PM2.5") == 4.0
    assert lookup(frame, "1011A", start, "TEMP") == -0.7
    assert lookup(frame, "1011A", start, "WD") == 337.5  # NNW
    header = rows[0]
    rng = np.random.default_rng(7)
    sample = [rows[i] for i in rng.integers(1, len(rows), 1000)]
    when = [
        pd.Timestamp(*(int(x) for x in r[1:5]), tz="Asia/Shanghai") - pd.Timedelta(hours=1)
        for r in sample
    ]
    columns = ("PM2.5", "NO2", "CO", "PRES", "WSPM")
    sub = frame[frame.time.isin(when) & frame.parameter.isin(columns)]
    values = as_dict(sub, {"1011A"})
    for r, start in zip(sample, when, strict=True):
        for col in columns:
            cell = r[header.index(col)]
            if cell == "NA":
                assert ("1011A", start, col) not in values
            else:
                expected = float(cell) / (1000 if col == "CO" else 1)
                assert values["1011A", start, col] == pytest.approx(expected, rel=1e-12)


def test_prsa_station_codes(shared: Path) -> None:
    """stations.csv: Dingling is 1002A, Wanshouxigong 1001A."""
    frame = read_prsa(
        [prsa_file(shared, "Dingling"), prsa_file(shared, "Wanshouxigong")], meteorology=False
    )
    assert set(frame.site.unique()) == {"1002A", "1001A"}
    assert set(frame.parameter.unique()) == set(POLLUTANTS)
    assert frame.time.min() == t("2013-02-28 23:00")
    assert frame.time.max() == t("2017-02-28 22:00")
    start = read_prsa(prsa_file(shared, "Dingling"), meteorology=False, hour_label="start")
    assert start.time.min() == t("2013-03-01 00:00")


# ----------------------------------------------------------------------------- bad rows


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prsa_bad_rows_reported_with_file_and_line(shared: Path, tmp_path: Path) -> None:
    src = prsa_file(shared, "Dongsi").read_text(encoding="utf-8").splitlines()
    lines = src[:11]  # header + 10 good lines (file lines 1..11)
    lines[3] = lines[3] + ",extra"  # line 4: 19 fields
    lines[5] = lines[5].replace(",300,", ",abc,", 1) if ",300," in lines[5] else lines[5]
    fields = lines[6].split(",")
    fields[4] = "24"  # line 7: hour 24
    lines[6] = ",".join(fields)
    fields = lines[7].split(",")
    fields[-1] = '"Nowhere"'  # line 8: unknown station
    lines[7] = ",".join(fields)
    fields = lines[8].split(",")
    fields[15] = '"XYZ"'  # line 9: bad wind direction (value dropped, rest kept)
    lines[8] = ",".join(fields)
    lines.insert(9, "")  # line 10 blank: skipped silently
    path = _write(tmp_path, "PRSA_bad.csv", lines)

    chunks = list(iter_chunks(path, chunk_rows=4))
    bad = [b for c in chunks for b in c.bad]
    by_line = {b.line: b.reason for b in bad}
    assert all(b.file == str(path) for b in bad)
    assert "expected 18 fields, found 19" in by_line[4]
    assert "hour" in by_line[7] or "date" in by_line[7]
    assert "Nowhere" in by_line[8]
    assert "XYZ" in by_line[9]
    good = pd.concat([c.frame for c in chunks])
    # 10 data lines: line 4, 7, 8 dropped whole; line 9 keeps all but WD
    assert good.time.nunique() == 7
    assert sum(c.lines for c in chunks) == len(lines) - 1
    if "abc" in lines[5]:
        assert "abc" in by_line[6]
    with pytest.raises(FormatError) as err:
        read_prsa(path)
    assert err.value.line == 4 and err.value.file == str(path)
    assert isinstance(err.value, PeerError)
    assert len(read_prsa(path, errors="skip")) == len(good)


def test_prsa_row_counter_that_is_not_a_number_is_a_bad_row(shared: Path, tmp_path: Path) -> None:
    """DESIGN §4 (bad rows reported with file and line): a ``No`` cell that is not a number
    is reported like any other cell; ``No`` is only a row counter, so the line's values are
    all kept (the same values as the untouched file's first lines)."""
    src = prsa_file(shared, "Dongsi").read_text(encoding="utf-8").splitlines()[:6]
    path = _write(tmp_path, "PRSA_no.csv", src)
    fields = src[2].split(",")
    fields[0] = "two"  # file line 3
    lines = [*src[:2], ",".join(fields), *src[3:]]
    broken = _write(tmp_path, "PRSA_no_broken.csv", lines)
    chunks = list(iter_chunks(broken))
    bad = [(b.line, b.reason) for c in chunks for b in c.bad]
    assert bad == [(3, "column No: 'two' is not a number")]
    kept = pd.concat([c.frame for c in chunks]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, read_prsa(path).reset_index(drop=True))
    with pytest.raises(FormatError) as err:
        read_prsa(broken)
    assert err.value.line == 3


def test_cnemc_bad_rows(shared: Path, tmp_path: Path) -> None:
    rows = raw_rows(cnemc_file(shared, "20250104"))
    header, body = rows[0], rows[1:16]  # hour 0, all 15 types (file lines 2..16)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    body[1][3] = "4O"  # line 3 (PM2.5 hour 0): 1001A not a number (letter O)
    body[4][2] = "PM1"  # line 6: unknown type
    writer.writerows(body)
    writer.writerow(body[1])  # line 17: duplicate of line 3
    path = tmp_path / "china_sites_bad.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    chunks = list(iter_chunks(path))
    bad = {b.line: b.reason for c in chunks for b in c.bad}
    assert set(bad) == {3, 6, 17}
    assert "1001A" in bad[3] and "PM1" in bad[6] and "duplicate" in bad[17]
    frame = pd.concat([c.frame for c in chunks])
    pm25 = frame[(frame.parameter == "PM2.5")]
    assert "1001A" not in set(pm25.site.unique())  # the bad cell is dropped ...
    assert "1003A" in set(pm25.site.unique())  # ... the rest of its line kept


def test_format_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        read_any(tmp_path / "missing.csv")
    empty = _write(tmp_path, "empty.csv", [""])
    with pytest.raises(FormatError):
        read_any(empty)
    other = _write(tmp_path, "other.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(FormatError, match="unknown format"):
        read_any(other)
    with pytest.raises(FormatError, match="not a PRSA file"):
        read_prsa(other)
    with pytest.raises(FormatError, match="not a CNEMC"):
        read_cnemc(other)


# ----------------------------------------------------------------------------- long CSV


def test_long_csv(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "long.csv",
        [
            "site,time,parameter,value,flag,unit",
            "1001A,2025-01-04T05:00:00+08:00,PM2.5,35,N,ug/m3",  # 2
            "1001A,2025-01-04 05:00,CO,800,,µg/m³",  # 3: naive = Beijing; µg → mg
            "1001A,2025-01-03T21:00:00Z,NO2,0.04,F,mg/m3",  # 4: UTC; mg → µg
            "1001A,2025-01-04T05:00,noise,55,N,dB(A)",  # 5: unknown parameter with unit
            "1001A,yesterday,PM10,1,N,",  # 6: bad time
            ",2025-01-04T05:00,PM10,1,N,",  # 7: no site
            "1001A,2025-01-04T05:00,PM10,,N,",  # 8: no value
            "1001A,2025-01-04T05:00,PM10,x,N,",  # 9: not a number
            "1001A,2025-01-04T05:00,PM10,1,N,ppm",  # 10: bad unit
            "1001A,2025-01-04T05:00,PM10,1,!!,",  # 11: bad flag
            "1001A,2025-01-04T05:00,foo,1,N,",  # 12: unknown parameter, no unit
        ],
    )
    assert detect_format(path) == "long"
    chunks = list(iter_chunks(path))
    bad = {b.line for c in chunks for b in c.bad}
    assert bad == {6, 7, 8, 9, 10, 11, 12}
    frame = read_long_csv(path, errors="skip")
    assert len(frame) == 4
    five = t("2025-01-04 05:00")
    assert lookup(frame, "1001A", five, "PM2.5") == 35
    assert lookup(frame, "1001A", five, "CO") == pytest.approx(0.8)
    assert lookup(frame, "1001A", five, "NO2") == pytest.approx(40)
    assert frame.loc[frame.parameter == "NO2", "flag"].iloc[0] == "F"
    assert frame.loc[frame.parameter == "CO", "flag"].iloc[0] == "N"
    assert frame.attrs["units"] == {"noise": "dB(A)"}
    with pytest.raises(FormatError) as err:
        read_long_csv(path)
    assert err.value.line == 6


def test_long_csv_round_trip_of_prsa(shared: Path, tmp_path: Path) -> None:
    frame = read_prsa(prsa_file(shared, "Huairou"), meteorology=False).head(5000)
    out = tmp_path / "huairou_long.csv.gz"
    frame.assign(time=frame.time.map(pd.Timestamp.isoformat)).to_csv(out, index=False)
    back = read_any(out)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True))


def test_iter_chunks_equals_whole_read(shared: Path) -> None:
    path = prsa_file(shared, "Gucheng")
    whole = read_prsa(path)
    chunks = list(iter_chunks(path, chunk_rows=5000))
    assert len(chunks) == 8  # 35,064 lines / 5,000
    assert chunks[-1].position == chunks[-1].size
    joined = pd.concat([c.frame for c in chunks], ignore_index=True)
    key = ["site", "time", "parameter"]
    pd.testing.assert_frame_equal(
        joined.sort_values(key, ignore_index=True), whole.sort_values(key, ignore_index=True)
    )


def test_civil_days_against_pandas_calendar() -> None:
    """The PRSA date arithmetic agrees with pandas' calendar for 1600-2400 and rejects
    impossible dates (2015-02-29, month 13, 2015-04-31, fractional parts)."""
    from shanshui.formats.canonical import civil_days

    d = pd.date_range("1600-01-01", "2400-12-31", freq="D")
    got = civil_days(d.year.to_numpy(), d.month.to_numpy(), d.day.to_numpy())
    assert (got == (d - pd.Timestamp("1970-01-01")).days.to_numpy()).all()
    bad = civil_days(
        np.array([2015, 2015, 2015, 2015.5, 2016]),
        np.array([2, 13, 4, 1, 2]),
        np.array([29, 1, 31, 1, 29]),
    )
    assert np.isnan(bad[:4]).all() and bad[4] == 16860  # 2016-02-29 is a leap day


def test_categorical_option_gives_the_same_table(shared: Path, tmp_path: Path) -> None:
    """categorical=True changes only the dtype of site, parameter and flag."""
    prsa = [prsa_file(shared, "Shunyi"), prsa_file(shared, "Wanliu")]
    plain = read_prsa(prsa)
    cat = read_prsa(prsa, categorical=True)
    assert all(isinstance(cat[c].dtype, pd.CategoricalDtype) for c in ("site", "flag"))
    pd.testing.assert_frame_equal(
        cat.astype({c: "str" for c in ("site", "parameter", "flag")}), plain
    )
    days = [cnemc_file(shared, d) for d in ("20250112", "20250114")]
    pd.testing.assert_frame_equal(
        read_any(days, categorical=True).astype({"site": "str", "parameter": "str", "flag": "str"}),
        read_cnemc(days),
    )
    path = _write(tmp_path, "l.csv", ["site,time,parameter,value", "1001A,2025-01-01T00:00,PM10,5"])
    assert read_long_csv(path, categorical=True).site.dtype == "category"


def test_bom_crlf_gzip_and_missing_final_newline(tmp_path: Path) -> None:
    """Spreadsheet-style input: UTF-8 BOM, CRLF line ends, no final newline, gzip."""
    text = (
        "\ufeffsite,time,parameter,value\r\n"
        "1001A,2025-01-04T05:00,SO2,7\r\n\r\n"
        "1002A,2025-01-04T05:00,SO2,8"
    )
    path = tmp_path / "spreadsheet.csv.gz"
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    chunks = list(iter_chunks(path, chunk_rows=1))
    assert [b for c in chunks for b in c.bad] == []
    frame = read_any(path)
    assert list(frame.site) == ["1001A", "1002A"] and list(frame.value) == [7.0, 8.0]
