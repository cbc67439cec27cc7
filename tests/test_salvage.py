"""An acknowledged upload with one unreadable CP entry keeps its other readings.

HJ 212-2017 §6.3.3.2: every CP entry is ``key=value``, entries separated by ``,`` within a
group and groups by ``;``. The codec refuses a segment that breaks this (tests of
:mod:`shanshui.hj212`); the writer keeps the readable entries of such a frame, which was
acknowledged already (DESIGN §5: an acknowledged reading is never lost), and dead-letters the
frame as received so that the operator sees what was left out.
"""

from __future__ import annotations

import pytest

from shanshui.hj212 import FrameError, parse_segment
from shanshui.ingest.payload import encode_frames, expand_frames
from shanshui.ingest.salvage import salvage

HEAD = b"QN=20160801085857223;ST=22;CN=2061;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&"
GOOD = b"DataTime=20160801080000;a34004-Avg=40,a34004-Flag=N;a21026-Avg=12,a21026-Flag=N"


def test_an_entry_without_equals_is_dropped_with_its_measurement() -> None:
    # a34004's Flag entry lost its '=': its value must not stand as valid (HJ 212-2017 §6.6:
    # without its flag the value's state is unknown), so a34004 goes; a21026 is kept
    segment = HEAD + b"DataTime=20160801080000;a34004-Avg=999,a34004-FlagD;a21026-Avg=12&&"
    with pytest.raises(FrameError):
        parse_segment(segment)  # the codec refuses it whole
    got = salvage(segment)
    assert got is not None
    message, dropped = got
    assert dropped == ["a34004-FlagD"]
    assert message.items == {"a21026": {"Avg": "12"}}
    assert message.data_time_raw == "20160801080000"
    assert (message.qn, message.mn, message.cn) == (
        "20160801085857223",
        "010000A8900016F000169DC0",
        "2061",
    )


def test_an_entry_without_a_key_s_value_drops_that_value() -> None:
    segment = HEAD + b"DataTime=20160801080000;a34004-Avg,a34004-Flag=N;a21026-Avg=12&&"
    got = salvage(segment)
    assert got is not None
    assert got[0].items == {"a21026": {"Avg": "12"}} and got[1] == ["a34004-Avg"]


@pytest.mark.parametrize(
    "segment",
    [
        HEAD + GOOD + b"&&",  # nothing to drop
        HEAD + GOOD + b";garbage&&",  # names no measurement: it may have been any flag
        HEAD + b"DataTime=20160801080000;a34004-Avg=40,=D,a34004-Flag=N&&",  # an empty key
        HEAD + GOOD + b";&&",  # a trailing ';' is no error (reference vector v44)
        HEAD.replace(b"CN=2061;", b"CN=20x1;") + GOOD + b";garbage&&",  # bad header: not salvaged
        HEAD + b"DataTime=2016080108000x;a34004-Avg=40;garbage&&",  # no date: not salvaged
        HEAD + b"DataTime=20160801080000;i12001-Info=//a;b//;garbage&&",  # //…// text
        b"ST=22;CN=2061;garbage",  # no CP at all
    ],
)
def test_what_is_not_salvaged(segment: bytes) -> None:
    assert salvage(segment) is None


def test_the_writer_keeps_the_readable_readings_and_dead_letters_the_frame() -> None:
    segment = HEAD + GOOD + b";a21004-Avg33&&"
    record = encode_frames([segment], ["S1"], 1_700_000_000_000_000)
    out, bad, readings = expand_frames([record])
    assert readings == 2
    (decoded,) = out
    assert not isinstance(decoded, bytes)
    assert sorted(zip(decoded.columns.p, decoded.columns.v, strict=True)) == [
        ("PM2.5", "40"),
        ("SO2", "12"),
    ]
    # the frame as received, with what was left out, for the operator
    ((dead_segment, site, reason, _received),) = bad
    assert (dead_segment, site) == (segment, "S1")
    assert "2 readings kept; left out: 'a21004-Avg33'" in reason
