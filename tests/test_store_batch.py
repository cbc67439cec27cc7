"""The write path's batch helpers (``shanshui.store.batch``) on the paths that decide results.

Natural days (DESIGN §4: an hourly mean enters the daily mean of its site's local day,
00:00–24:00, by the start label of its hour; GB 3095-2012 Table 4): the expected days are
worked out by hand from each zone's rules as the IANA tz database states them (the ``asia``
and ``northamerica`` files), written next to each case; the cross-check at the end compares
against Python's :mod:`zoneinfo` per row, never against the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from shanshui.formats.canonical import constant_strings
from shanshui.store.api import StoreInputError
from shanshui.store.batch import (
    KEY,
    STAGE_SCHEMA,
    checked,
    constant_string,
    last_of_keys,
    natural_days,
)

TIME = pa.timestamp("us", tz="UTC")
HOUR = 3_600_000_000  # [µs]


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _days(
    sites: list[int], times: list[datetime], zones: dict[int, str], *, hourly: bool = True
) -> list[tuple[int, date]]:
    n = len(sites)
    got = natural_days(
        pa.array(sites, pa.int32()),
        pa.array(["avg" if hourly else "max"] * n),
        pa.array(["hour"] * n),
        pa.array(times, TIME),
        zones,
    )
    return list(zip(got["site_id"].to_pylist(), got["day"].to_pylist(), strict=True))


# -- natural days --------------------------------------------------------------------------------
def test_natural_days_of_a_fixed_offset_zone() -> None:
    """Asia/Shanghai (UTC+8): 15:00 UTC is 23:00 local, 16:00 UTC is 00:00 the next day."""
    times = [datetime(2016, 12, 31, 15, tzinfo=UTC), datetime(2016, 12, 31, 16, tzinfo=UTC),
             datetime(2017, 1, 1, 15, tzinfo=UTC)]  # fmt: skip
    assert _days([7, 7, 7], times, {7: "Asia/Shanghai"}) == [
        (7, date(2016, 12, 31)), (7, date(2017, 1, 1)),
    ]  # fmt: skip
    assert _days([7, 7, 7], times, {7: "Asia/Shanghai"}, hourly=False) == []


def test_natural_days_across_a_dst_change_take_the_exact_path() -> None:
    """America/New_York, EDT from 2025-03-09 07:00 UTC: 04:30 UTC on the 9th is 23:30 EST on
    the 8th; 04:30 UTC on the 10th is 00:30 EDT on the 10th (one fixed offset, EST, would
    say 23:30 on the 9th)."""
    times = [datetime(2025, 3, 9, 4, 30, tzinfo=UTC), datetime(2025, 3, 10, 4, 30, tzinfo=UTC)]
    assert _days([2, 2], times, {2: "America/New_York"}) == [
        (2, date(2025, 3, 8)), (2, date(2025, 3, 10)),
    ]  # fmt: skip


def test_natural_days_in_china_before_1991_follow_its_summer_time() -> None:
    """Asia/Shanghai in 1990 (Rule PRC: UTC+9 from 15 April to 16 September): 1990-07-01
    15:30 UTC is 00:30 on 2 July (UTC+9), 1990-01-10 15:30 UTC is 23:30 on 10 January (UTC+8)."""
    times = [datetime(1990, 1, 10, 15, 30, tzinfo=UTC), datetime(1990, 7, 1, 15, 30, tzinfo=UTC)]
    assert _days([1, 1], times, {1: "Asia/Shanghai"}) == [
        (1, date(1990, 1, 10)), (1, date(1990, 7, 2)),
    ]  # fmt: skip


def test_natural_days_of_sites_in_fixed_and_changing_zones_together() -> None:
    """Site 3 in Shanghai (UTC+8 throughout), site 9 in New York across its DST change, site
    5 in Shanghai too; rows interleaved and out of order."""
    t1 = datetime(2025, 3, 9, 4, 30, tzinfo=UTC)  # NY 23:30 EST 8th; Shanghai 12:30 9th
    t2 = datetime(2025, 3, 10, 4, 30, tzinfo=UTC)  # NY 00:30 EDT 10th; Shanghai 12:30 10th
    t3 = datetime(2025, 3, 8, 16, tzinfo=UTC)  # NY 11:00 EST 8th; Shanghai 00:00 9th
    zones = {3: "Asia/Shanghai", 9: "America/New_York", 5: "Asia/Shanghai"}
    got = _days([9, 3, 9, 5, 3, 9], [t2, t1, t1, t3, t2, t3], zones)
    assert got == [
        (3, date(2025, 3, 9)), (3, date(2025, 3, 10)),
        (5, date(2025, 3, 9)),
        (9, date(2025, 3, 8)), (9, date(2025, 3, 10)),
    ]  # fmt: skip


def test_natural_days_with_sparse_site_ids() -> None:
    """Site ids far apart (no bitmap of site × day): the same days, sorted."""
    t = [datetime(2025, 1, 1, 15, tzinfo=UTC), datetime(2025, 1, 1, 16, tzinfo=UTC)]
    zones = {1: "Asia/Shanghai", 2_000_000_000: "Asia/Shanghai"}
    got = _days([2_000_000_000, 1, 1], [t[0], t[1], t[0]], zones)
    assert got == [(1, date(2025, 1, 1)), (1, date(2025, 1, 2)), (2_000_000_000, date(2025, 1, 1))]


def test_natural_days_only_of_hourly_means_in_a_mixed_batch() -> None:
    """Only rows with statistic ``avg`` and period ``hour`` mark days."""
    n = 3
    got = natural_days(
        pa.array([1, 1, 1], pa.int32()),
        pa.array(["avg", "max", "avg"]),
        pa.array(["hour", "hour", "day"]),
        pa.array([datetime(2025, 1, d, 4, tzinfo=UTC) for d in range(1, n + 1)], TIME),
        {1: "Asia/Shanghai"},
    )
    assert list(zip(got["site_id"].to_pylist(), got["day"].to_pylist(), strict=True)) == [
        (1, date(2025, 1, 1))
    ]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Asia/Kathmandu"])
@pytest.mark.parametrize("step_s", [3600, 420])
def test_natural_days_match_zoneinfo_row_by_row(zone: str, step_s: int) -> None:
    """Times over two years (whole years cross DST changes; Kathmandu is UTC+5:45) and over
    four weeks, on the hour (the 15-minute slots' lookup) and on 7-minute marks (off that
    grid: every time converted), against zoneinfo's local date of every row."""
    rng = np.random.default_rng(7)
    start = _us(datetime(2023, 1, 1, tzinfo=UTC)) // 1_000_000 // step_s
    for span in (2 * 8760 * 3600 // step_s, 28 * 86400 // step_s):
        steps = start + rng.integers(0, span, 3000)
        sites = rng.integers(1, 4, 3000)
        times = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(k) * step_s)
                 for k in steps]  # fmt: skip
        want = sorted(
            {
                (int(s), t.astimezone(ZoneInfo(zone)).date())
                for s, t in zip(sites, times, strict=True)
            }
        )
        got = _days(sites.tolist(), times, dict.fromkeys((1, 2, 3), zone))
        assert got == want


# -- constant columns, checks, key order ---------------------------------------------------------
def test_constant_string() -> None:
    assert constant_string(constant_strings("hour", 1000)) == "hour"
    assert constant_string(pa.chunked_array([constant_strings("avg", 5).slice(2),
                                             pa.array(["avg"])])) == "avg"  # fmt: skip
    assert constant_string(pa.array(["ab", "ab", "ab"]).slice(1)) == "ab"
    assert constant_string(pa.array(["", ""])) == ""
    for differs in (["ab", "a", "b"], ["ab", "ab", "ac"], ["a", None], []):
        assert constant_string(pa.array(differs, pa.string())) is None
    assert constant_string(pa.chunked_array([pa.array(["a"]), pa.array(["b"])])) is None
    assert constant_string(pa.array([1, 1])) is None


def _table(rows: list[tuple[str, str, str, str, datetime, float]]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return pa.table(
        {
            "site": pa.array(cols[0]), "parameter": pa.array(cols[1]),
            "statistic": pa.array(cols[2]), "period": pa.array(cols[3]),
            "time": pa.array(cols[4], TIME), "value": pa.array(cols[5], pa.float64()),
            "flag": pa.nulls(n, pa.string()), "received": pa.nulls(n, TIME),
            "source": pa.nulls(n, pa.string()),
        },
        schema=STAGE_SCHEMA,
    )  # fmt: skip


def test_checked_refuses_an_unknown_statistic_or_period_also_when_constant() -> None:
    """api.STATISTICS / PERIODS: a column of one unknown value is refused like a mixed one."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    for stat, per, bad in (("mean", "hour", "mean"), ("avg", "hours", "hours")):
        table = _table([("A", "PM10", stat, per, t, 1.0), ("A", "PM10", stat, per, t, 2.0)])
        with pytest.raises(StoreInputError, match=bad):
            checked(table, received=now, source="x")
    mixed = _table([("A", "PM10", "avg", "hour", t, 1.0), ("A", "PM10", "mean", "hour", t, 2.0)])
    with pytest.raises(StoreInputError, match="mean"):
        checked(mixed, received=now, source="x")
    good = _table([("A", "PM10", "avg", "hour", t, 1.0)])
    assert checked(good, received=now, source="x")["source"].to_pylist() == ["x"]


def test_last_of_keys_keeps_a_batch_in_key_order_and_drops_repeats_otherwise() -> None:
    """Store contract: the last row of a key wins; a batch in key order is returned as is."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(hours=1)
    ordered = _table([
        ("A", "CO", "avg", "hour", t0, 1.0), ("A", "CO", "avg", "hour", t1, 2.0),
        ("A", "SO2", "avg", "hour", t0, 3.0), ("B", "CO", "avg", "hour", t0, 4.0),
    ])  # fmt: skip
    out, dropped = last_of_keys(ordered)
    assert dropped == 0 and out is ordered
    repeated = _table([
        ("A", "CO", "avg", "hour", t1, 1.0), ("A", "CO", "avg", "hour", t0, 2.0),
        ("A", "CO", "avg", "hour", t1, 3.0),
    ])  # fmt: skip
    out, dropped = last_of_keys(repeated)
    assert dropped == 1
    assert sorted(zip(out["time"].to_pylist(), out["value"].to_pylist(), strict=True)) == [
        (t0, 2.0), (t1, 3.0),
    ]  # fmt: skip


def test_last_of_keys_over_a_span_too_wide_for_one_integer_key() -> None:
    """Times from year 1 to 9999 (~3·10^17 µs) with 40 sites: key and time do not fit one
    int64 together; the key order and the repeats are still found."""
    early, late = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    rows = [
        (f"S{i:02d}", "CO", "avg", "hour", t, float(i)) for i in range(40) for t in (early, late)
    ]
    out, dropped = last_of_keys(_table(rows), KEY)
    assert dropped == 0 and out.num_rows == 80
    rows.append(("S05", "CO", "avg", "hour", late, 99.0))
    out, dropped = last_of_keys(_table(rows), KEY)
    assert dropped == 1
    kept = [v for s, t, v in zip(out["site"].to_pylist(), out["time"].to_pylist(),
                                 out["value"].to_pylist(), strict=True)
            if s == "S05" and t == late]  # fmt: skip
    assert kept == [99.0]
