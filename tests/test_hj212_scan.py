"""The ack-path scan (``shanshui.hj212.scan``): the C scan equals its Python twin, and the
head decoder gives the full decoder's frames and errors, in any chunking.

References: the reference frames ``shared/reference/hj212/vectors.jsonl`` and
``streams.jsonl`` (public implementations and the standards' examples), HJ 212-2017 §6.3.2
(framing) and Appendix A (CRC); the Python twin ``scan_frames_py`` is the source of truth
for the C scan (like ``tests/test_aqi_kernel.py`` for the AQI loop).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shanshui.hj212 import Decoder, Frame, FrameError, Message, encode, frame_segment
from shanshui.hj212.scan import SCAN_C, HeadDecoder, scan_frames_py

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UPLOAD = (
    b"QN=20160801085857223;ST=22;CN=2061;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&DataTime=20160801080000;a34004-Avg=35.5,a34004-Flag=N;a34002-Avg=70,a34002-Flag=N&&"
)


def _frames(shared: Path) -> list[bytes]:
    out = []
    for name in ("vectors.jsonl", "streams.jsonl"):
        for line in (shared / "reference" / "hj212" / name).read_text("utf-8").splitlines():
            v = json.loads(line)
            for key in ("frame", "stream"):
                if isinstance(v.get(key), str):
                    out.append(v[key].encode("utf-8"))
            for key in ("frame_b64", "stream_b64"):
                if isinstance(v.get(key), str):
                    out.append(base64.b64decode(v[key]))
    return out


@pytest.fixture(scope="module")
def reference(shared: Path) -> list[bytes]:
    frames = _frames(shared)
    assert len(frames) >= 80
    return frames


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    alphabet = b"#0123456789;,=&-CPQNSTMWFlagDataTime \r\n/\x00\xff"
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            i = rng.randrange(len(b) + 1)
            if op == 0 and b:
                del b[min(i, len(b) - 1)]
            elif op == 1:
                b.insert(i, rng.choice(alphabet))
            elif b:
                b[min(i, len(b) - 1)] = rng.choice(alphabet)
        out.append(bytes(b))
    return out


def _check_twins(data: bytes, max_segment: int = 9999) -> None:
    if SCAN_C is None:  # the skip below says why; the Python twin is tested on its own
        return
    for pos in (0, 1, 7):
        assert SCAN_C(data, pos, max_segment) == scan_frames_py(data, pos, max_segment)


# -- the C scan and its Python twin ------------------------------------------------------------
def test_the_c_scan_is_built() -> None:
    if SCAN_C is None:
        pytest.skip("no C compiler at install time: the gateway uses scan_frames_py alone")
    assert callable(SCAN_C)


def test_twins_agree_on_the_reference_frames_and_their_mutations(reference: list[bytes]) -> None:
    rng = random.Random(212)
    for frame in reference:
        for data in (frame, frame + b"\r\n", frame + b"\r\n" + frame + b"\n", b" \r\n" + frame):
            _check_twins(data)
            _check_twins(data, 1024)
        for data in _mutations(frame + b"\r\n" + frame + b"\r\n", rng, 40):
            _check_twins(data)


@SETTINGS
@given(st.binary(max_size=400))
def test_twins_agree_on_random_bytes(data: bytes) -> None:
    _check_twins(data)
    _check_twins(frame_segment(UPLOAD) + data)


def test_a_clean_upload_is_read_by_its_header() -> None:
    # HJ 212-2017 Table 4 fields; the segment is kept whole for the writer
    frame = frame_segment(UPLOAD)
    heads, stop = scan_frames_py(frame + frame, 0, 9999)
    assert stop == 2 * len(frame)
    assert heads[0] == (
        UPLOAD, "20160801085857223", "22", "2061", "123456", "010000A8900016F000169DC0", 5,
        True, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("segment", "why"),
    [
        (UPLOAD.replace(b"Flag=5;", b"Flag=5;PNUM=2;PNO=1;"), "sub-packet header"),
        (UPLOAD.replace(b"ST=22;CN=2061", b"CN=2061;ST=22"), "keys in another order"),
        (UPLOAD.replace(b"DataTime=20160801080000", b"DataTime=2016080108"), "short DataTime"),
        (UPLOAD.replace(b"a34002-Avg=70", b"a34002-Avg=70;DataTime=20160801090000"), "2 times"),
        (UPLOAD.replace(b";a34002", b"; a34002"), "a space in CP"),
        (UPLOAD.replace(b"a34004-Flag=N", b"a34004-Info=//x//"), "a // text"),
        (UPLOAD.replace(b"Flag=5", b"Flag=300"), "Flag over 255"),
        (UPLOAD.replace(b"PW=123456", "PW=密码".encode()), "non-ASCII"),
    ],
)
def test_frames_outside_the_clean_layout_stop_the_scan(segment: bytes, why: str) -> None:
    frame = frame_segment(segment)
    assert scan_frames_py(frame, 0, 9999) == ([], 0), why
    _check_twins(frame)


def test_lower_case_crc_bad_crc_and_oversize_stop_the_scan() -> None:
    good = frame_segment(UPLOAD)
    for data in (frame_segment(UPLOAD, lower_crc=True), good[:-6] + b"0000\r\n", good):
        _, stop = scan_frames_py(good + data, 0, 9999 if data is not good else 100)
        assert stop == (len(good) if data is not good else 0)
        _check_twins(good + data)


def test_blank_bytes_after_the_last_frame_are_left_to_the_decoder() -> None:
    frame = frame_segment(UPLOAD)
    assert scan_frames_py(frame + b"  ", 0, 9999)[1] == len(frame)
    assert scan_frames_py(frame[:-2] + b" \r\n" + frame, 0, 9999)[1] == 2 * len(frame) + 1


# -- the head decoder against the full decoder -------------------------------------------------
def _full(pieces: list[bytes], max_segment: int) -> list[tuple[str, bytes]]:
    dec = Decoder(max_segment=max_segment)
    events: list[Frame | FrameError] = []
    for piece in pieces:
        events += dec.feed(piece)
    events += dec.close()
    return [("frame", e.raw[6:-4]) if isinstance(e, Frame) else (e.reason, e.raw) for e in events]


def _heads(pieces: list[bytes], max_segment: int) -> list[tuple[str, bytes]]:
    dec = HeadDecoder(max_segment=max_segment)
    events: list[object] = []
    for piece in pieces:
        events += dec.feed(piece)
    events += dec.close()
    out: list[tuple[str, bytes]] = []
    for e in events:  # the invariant: a head (a frame) or a FrameError, nothing else
        if isinstance(e, FrameError):
            out.append((e.reason, e.raw))
        else:
            assert isinstance(e, tuple) and len(e) == 9 and isinstance(e[0], bytes)
            out.append(("frame", e[0]))
    return out


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def _same_modulo_cp(heads: list[tuple[str, bytes]], full: list[tuple[str, bytes]]) -> None:
    """Equal, except that a clean frame whose CP the full decoder refuses (bad_field) is a
    head (acknowledged, then dead-lettered by the writer: the documented choice)."""
    assert len(heads) == len(full)
    for h, f in zip(heads, full, strict=True):
        if h != f:
            assert h[0] == "frame" and f[0] == "bad_field" and f[1][6:-4] == h[1], (h, f)


noise = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"##", b"##0", b"\r\n", b"&&", b"#", b"\n", b"##9999", b"  "]),
)
uploads = st.builds(
    lambda qn, v, sep: (
        frame_segment(
            UPLOAD.replace(b"20160801085857223", qn.encode()).replace(b"35.5", v.encode())
        )[:-2]
        + sep
    ),
    st.text("0123456789", min_size=1, max_size=20),
    st.text("0123456789.-x=,;", min_size=1, max_size=6),
    st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\n", b" "]),
)


@SETTINGS
@given(
    st.lists(st.one_of(uploads, noise), max_size=8),
    st.lists(st.integers(0, 10**6), max_size=10),
    st.sampled_from([9999, 200]),
)
def test_head_decoder_gives_the_full_decoders_events(
    pieces: list[bytes], cuts: list[int], max_segment: int
) -> None:
    stream = b"".join(pieces)
    full = _full([stream], max_segment)
    _same_modulo_cp(_heads([stream], max_segment), full)
    _same_modulo_cp(_heads(_chunks(stream, cuts), max_segment), full)


def test_head_decoder_keeps_the_message_of_frames_it_decoded_in_full() -> None:
    msg = Message.build(
        st="22", cn="2061", qn="1", pw="p", mn="M", flag=7, pnum=1, pno=1,
        data_time="20200101000000", items={"a34004": {"Avg": "1"}},
    )  # fmt: skip
    dec = HeadDecoder()
    (head,) = dec.feed(encode(msg))
    assert isinstance(head, tuple) and head[8] == msg and head[1:8] == (
        "1", "22", "2061", "p", "M", 7, True,
    )  # fmt: skip


def test_reference_streams_give_the_full_decoders_events(reference: list[bytes]) -> None:
    for data in reference:
        full = _full([data], 9999)
        _same_modulo_cp(_heads([data], 9999), full)
        _same_modulo_cp(_heads([data[i : i + 7] for i in range(0, len(data), 7)], 9999), full)


@SETTINGS
@given(st.binary(max_size=600))
def test_c_framing_equals_frame_segment(segment: bytes) -> None:
    # HJ 212-2017 §6.3.2 layout and Appendix A CRC, as the codec's frame_segment writes them
    from shanshui.hj212.scan import FRAME_C, frame_py

    assert frame_py(segment) == frame_segment(segment)
    if FRAME_C is not None:
        assert FRAME_C(segment) == frame_segment(segment)


# -- the C reader of a plain segment's readings (the writer's bulk decode) -----------------------
def _reference_readings(segment: bytes) -> object:
    """parse_segment + add_readings, the source of truth (HJ 212-2017 §6.3.3.2 and the
    mapping written in shanshui.ingest.session)."""
    from shanshui.hj212 import parse_segment
    from shanshui.ingest.payload import Columns
    from shanshui.ingest.readings import add_readings

    try:
        msg = parse_segment(segment)
    except FrameError:
        return "error"
    cols = Columns()
    add_readings(cols, msg, "S")
    return msg.cn, msg.mn or "", msg.data_time_raw, cols.p, cols.k, cols.v, cols.f


def _check_cp_reader(segment: bytes) -> bool:
    """True when the C reader took the segment (and agreed with the reference)."""
    from shanshui.hj212 import parse_time
    from shanshui.hj212.scan import CP_READINGS_C
    from shanshui.ingest.readings import _STATS, AIR_CODES, PERIODS

    if CP_READINGS_C is None:
        return False
    got = CP_READINGS_C(segment, AIR_CODES, _STATS)
    if got is None:
        return False
    want = _reference_readings(segment)
    cn, mn, raw, p, k, v, f = got
    if raw is not None:
        try:
            parse_time(raw)
        except FrameError:
            assert want == "error"
            return True
    assert want != "error", segment
    assert isinstance(want, tuple)
    assert (cn, mn, raw) == want[:3]
    if cn in PERIODS and raw is not None:
        assert (p, k, v, f) == want[3:], segment
    return True


HEADER = b"QN=20160801085857223;ST=%b;CN=%b;PW=123456;MN=M1;Flag=5;CP=&&"
entries = st.lists(
    st.tuples(
        st.sampled_from(["a34004", "a21026", "a01001", "PM25", "w01018", "", "DataTime", "x-y"]),
        st.sampled_from(["Avg", "Rtd", "Min", "Max", "Cou", "ZsAvg", "Flag", "EFlag", "", None]),
        st.sampled_from(["35.5", "-1", "N", "D", "", "1e5", "20160801080000", "2016130108000"]),
        st.sampled_from([";", ","]),
    ),
    max_size=10,
)


@SETTINGS
@given(
    entries, st.sampled_from([b"22", b"31", b"32"]), st.sampled_from([b"2061", b"2011", b"1013"])
)
def test_c_cp_reader_equals_parse_segment_and_add_readings(
    items: list[tuple[str, str | None, str, str]], system: bytes, cn: bytes
) -> None:
    cp = ""
    for i, (code, suffix, value, sep) in enumerate(items):
        key = code if suffix is None else f"{code}-{suffix}"
        cp += ("" if i == 0 else sep) + f"{key}={value}"
    _check_cp_reader(HEADER % (system, cn) + cp.encode() + b"&&")


def test_c_cp_reader_takes_the_usual_uploads(reference: list[bytes]) -> None:
    from shanshui.hj212.scan import CP_READINGS_C

    if CP_READINGS_C is None:
        pytest.skip("no C compiler at install time: the writer decodes with parse_segment")
    assert _check_cp_reader(UPLOAD)
    took = 0
    for data in reference:
        for event in Decoder().feed(data):
            if isinstance(event, Frame):
                took += _check_cp_reader(event.raw[6:-4])
    assert took >= 20  # most reference uploads are in the plain layout
