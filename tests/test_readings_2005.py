"""HJ/T 212-2005 air stations' numeric data flags become the HJ 212-2017 letters at ingest.

Source of the 2005 flags: ``shared/reference/hj212/README.md`` ("2005: … air stations 0
calibration data, 1 meteorological, 2 abnormal, 3 normal"); of the 2017 letters: the same notes
and HJ 212-2017 §6.6 (N normal, C calibration, D fault). A 2005 station that sends ``3`` for
normal data must get valid daily means like a 2017 one: only ``N`` counts as valid
(:data:`shanshui.standards.cube.VALID_FLAGS`, HJ 663-2013 / GB 3095-2012 data validity).
"""

from __future__ import annotations

import pytest

from shanshui.hj212 import parse_segment
from shanshui.hj212.scan import CP_READINGS_C
from shanshui.ingest.payload import Columns, encode_frames, expand_frames
from shanshui.ingest.readings import _STATS, AIR_CODES, add_readings
from shanshui.standards.cube import VALID_FLAGS

#: A 2005-layout ambient-air hourly upload (no QN, no Flag: the 2005 header, reference notes
#: "No Flag field → 2005 layout"), one code per 2005 air flag.
SEGMENT_2005 = (
    b"ST=22;CN=2061;PW=123456;MN=TJ2005AIR0001;CP=&&DataTime=20160516130000;"
    b"a34004-Avg=40.28,a34004-Flag=3;a01001-Avg=21.5,a01001-Flag=1;"
    b"a21026-Avg=12,a21026-Flag=0;a21004-Avg=33,a21004-Flag=2&&"
)
#: The 2017 letters the four 2005 flags stand for (see the module docstring).
WANT = {"PM2.5": "N", "TEMP": "N", "SO2": "C", "NO2": "D"}


def _flags(columns: Columns) -> dict[str, str]:
    return dict(zip(columns.p, columns.f, strict=True))


def test_a_2005_air_station_s_flags_become_2017_letters() -> None:
    cols = Columns()
    assert add_readings(cols, parse_segment(SEGMENT_2005), "S1") == 4
    assert _flags(cols) == WANT
    # normal data (3) and meteorological data (1) are valid, as a 2017 "N" is
    assert {p for p, f in _flags(cols).items() if f in VALID_FLAGS} == {"PM2.5", "TEMP"}


def test_the_same_flags_from_a_2005_edition_flag_field_are_mapped() -> None:
    # Flag=1: version bits 0 (2005) with A=1 (reference notes: bits 2–7 are the edition)
    segment = SEGMENT_2005.replace(b"MN=TJ2005AIR0001;", b"MN=TJ2005AIR0001;Flag=1;")
    cols = Columns()
    add_readings(cols, parse_segment(segment), "S1")
    assert _flags(cols) == WANT


def test_a_2017_frame_and_a_2005_source_keep_their_flags_as_sent() -> None:
    # 2017 edition (Flag=5): "3" is no 2017 flag; it is kept, and keeps the value out
    segment_2017 = SEGMENT_2005.replace(b"ST=22;", b"QN=20160516130000000;ST=22;").replace(
        b"MN=TJ2005AIR0001;", b"MN=TJ2005AIR0001;Flag=5;"
    )
    cols = Columns()
    add_readings(cols, parse_segment(segment_2017), "S1")
    assert _flags(cols) == {"PM2.5": "3", "TEMP": "1", "SO2": "0", "NO2": "2"}
    # a 2005 waste-water source (ST 32): its letter flags (P power failure) are kept
    source = (
        b"ST=32;CN=2061;PW=123456;MN=SRC2005;CP=&&DataTime=20160516130000;"
        b"w01018-Avg=20,w01018-Flag=P&&"
    )
    cols = Columns()
    add_readings(cols, parse_segment(source), "S2")
    assert _flags(cols) == {"w01018": "P"}


@pytest.mark.skipif(CP_READINGS_C is None, reason="the C reader is not built here")
def test_the_c_reader_leaves_2005_segments_to_add_readings() -> None:
    assert CP_READINGS_C(SEGMENT_2005, AIR_CODES, _STATS) is None
    flagged = SEGMENT_2005.replace(b"MN=TJ2005AIR0001;", b"MN=TJ2005AIR0001;Flag=1;")
    assert CP_READINGS_C(flagged, AIR_CODES, _STATS) is None


def test_the_writer_s_decode_maps_a_journaled_2005_frame() -> None:
    record = encode_frames([SEGMENT_2005], ["S1"], 1_700_000_000_000_000)
    out, bad, readings = expand_frames([record])
    assert (bad, readings) == ([], 4)
    (decoded,) = out
    assert not isinstance(decoded, bytes)
    assert _flags(decoded.columns) == WANT
