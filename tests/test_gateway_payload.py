"""Journal payloads: what the session packs is what the writer unpacks, in both formats;
values follow the plain-decimal rule of HJ 212-2017 §6.3.3.2 in Python and in Arrow alike."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shanshui.hj212 import Message
from shanshui.ingest.payload import (
    COLUMNS,
    PLAIN_DECIMAL,
    Columns,
    decode_payload,
    encode_payload,
    payload_table,
    plain_number,
    plain_values,
    received_of,
)
from shanshui.ingest.readings import add_readings
from shanshui.store.batch import normalise

RECEIVED = 1_700_000_000_000_000


def columns(*frames: tuple[str, str, dict[str, dict[str, object]]]) -> Columns:
    cols = Columns()
    for site, hour, items in frames:
        msg = Message.build(st="22", cn="2061", mn="MN" + site, data_time=hour, items=items)
        add_readings(cols, msg, site)
    return cols


def table_rows(table: pa.Table) -> list[tuple[object, ...]]:
    out = []
    for r in table.to_pylist():
        t = int(r["time"].timestamp()) * 1_000_000
        out.append(
            (r["site"], r["parameter"], r["statistic"], r["period"], t, r["value"], r["flag"],
             r["source"].removeprefix("hj212:"))
        )  # fmt: skip
    return out


SAMPLE = columns(
    ("1001A", "20140101080000", {"a34004": {"Avg": "10.5", "Flag": "D"}, "a21005": {"Avg": ".6"}}),
    ("1002A", "20140101090000", {"a34002": {"Avg": "x1", "Min": "-3."}, "PM25": {"Max": "7"}}),
)


def test_version_2_round_trip_keeps_plain_decimals_only() -> None:
    payload = encode_payload(SAMPLE, RECEIVED)
    assert payload[:1] == b"\x02" and received_of(payload) == RECEIVED
    received, cols = decode_payload(payload)
    assert received == RECEIVED
    rows = list(zip(*(cols[c] for c in COLUMNS), strict=True))
    # DataTime 08:00 Beijing = 00:00 UTC (HJ 212-2017 §6.3.3.2 local time, UTC+8)
    t8 = int(datetime(2014, 1, 1, 0, tzinfo=UTC).timestamp()) * 1_000_000
    assert rows == [
        ("1001A", "PM2.5", "avg", "hour", t8, 10.5, "D", "MN1001A"),
        ("1001A", "CO", "avg", "hour", t8, 0.6, "N", "MN1001A"),
        ("1002A", "PM10", "min", "hour", t8 + 3_600_000_000, -3.0, "N", "MN1002A"),
        ("1002A", "PM25", "max", "hour", t8 + 3_600_000_000, 7.0, "N", "MN1002A"),
    ]  # "x1" is not a reading
    assert table_rows(payload_table([payload])) == rows


def test_a_separator_inside_a_code_falls_back_to_json() -> None:
    cols = Columns()  # what a lenient decoder could hand over; Message.build refuses it
    cols.p += ["a34\x1f004", "CO"]
    cols.k += ["avg", "avg"]
    cols.v += ["1", "2"]
    cols.f += ["N", "N"]
    cols.frame("1001A", "hour", 0, "MN1", 2)
    payload = encode_payload(cols, RECEIVED)
    assert payload[:1] == b"{"
    rows = table_rows(payload_table([payload]))
    assert [(r[1], r[5]) for r in rows] == [("a34\x1f004", 1.0), ("CO", 2.0)]


def test_mixed_formats_keep_record_order() -> None:
    v1 = json.dumps(
        {"r": RECEIVED, "s": ["1001A"], "p": ["NO2"], "k": ["avg"], "d": ["hour"],
         "t": [0], "v": [40.0], "f": ["N"], "m": ["MN1"]}
    ).encode()  # fmt: skip
    v2 = encode_payload(SAMPLE, RECEIVED)
    table = payload_table([v2, v1, v2])
    sites = table["site"].to_pylist()
    assert sites == [
        "1001A",
        "1001A",
        "1002A",
        "1002A",
        "1001A",
        "1001A",
        "1001A",
        "1002A",
        "1002A",
    ]
    assert table["parameter"].to_pylist()[4] == "NO2"


def test_a_damaged_record_raises_value_error() -> None:
    payload = encode_payload(SAMPLE, RECEIVED)
    for bad in (payload[:-1], payload + b"x", payload[:10]):
        with pytest.raises(ValueError):
            payload_table([bad])


TRICKY = [
    "5", "5.", "5.5", ".5", "-5", "-5.", "-.5", "0.1", "-0", "00012.50", "1" * 400,
    "", ".", "-", "-.", "--1", "+5", "1e5", "1E5", "nan", "inf", "1.2.3", " 5", "5 ", "١",
    "0x10", "1_000", "²", "-5-", ".-5",
]  # fmt: skip


def test_the_vectorised_plain_decimal_rule_matches_python() -> None:
    rng = random.Random(212)
    texts = TRICKY + [
        f"{rng.choice(['', '-'])}{rng.randint(0, 10 ** rng.randint(0, 12))}"
        f"{rng.choice(['', '.', '.' + str(rng.randint(0, 10**6)).zfill(rng.randint(1, 7))])}"
        for _ in range(2000)
    ]
    arr = pa.array(texts)
    plain = pc.match_substring_regex(arr, PLAIN_DECIMAL)
    cast = pc.cast(pc.if_else(plain, arr, pa.scalar(None, pa.string())), pa.float64())
    keep = pc.fill_null(pc.is_finite(cast), False)
    for text, ok, value in zip(texts, keep.to_pylist(), cast.to_pylist(), strict=True):
        expected = plain_number(text)
        assert ok == (expected is not None), text
        if ok:
            assert value == expected == float(text), text  # Python's float() as the reference


@pytest.mark.parametrize(
    "texts",
    [
        ["35.5", "1.2.3", "7"],  # only the bytes 0-9 . - yet no decimal: the pattern decides
        ["35.5", "-", "", "5-", ".5", "5."],
        ["35.5", " 35", "1e5", "+3", "nan"],  # other bytes: the pattern from the start
        ["12.0", "0.8", "-3"],  # the usual batch: the byte look-up and one cast
    ],
)
def test_plain_values_are_the_python_rule_whatever_the_batch(texts: list[str]) -> None:
    """plain_values (the writer's vectorised reading of values) equals plain_number (HJ
    212-2017 §6.3.3.2) for each text, on whole arrays and on slices of them (an offset)."""
    arr = pa.array(["9.9", *texts])
    for part in (arr.slice(1), pa.array(texts)):
        got = plain_values(part).to_pylist()
        assert got == [plain_number(t) for t in texts], texts


def test_arrow_batches_are_normalised_like_pandas_ones() -> None:
    cols = columns(
        ("1001A", "20140101080000", {"a34004": {"Avg": "10"}}),
        ("1001A", "20140101080000", {"a34004": {"Avg": "12"}}),  # the later one wins
        ("1001A", "20140101090000", {"a34004": {"Avg": "13"}}),
    )
    table = payload_table([encode_payload(cols, RECEIVED)])
    now = datetime(2020, 1, 1, tzinfo=UTC)
    fast, dropped = normalise(table, received=now, source=None)
    slow, dropped_slow = normalise(table.to_pandas(), received=now, source=None)
    assert dropped == dropped_slow == 1
    assert fast.to_pylist() == slow.to_pylist()
    assert fast["value"].to_pylist() == [12.0, 13.0]
