"""The codec against the reference frames and streams in ../shared/reference/hj212.

Expected values come from ``vectors.jsonl`` / ``streams.jsonl`` (real frames from public
implementations and the standards' examples; see that folder's README for provenance).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from shanshui.hj212 import (
    Decoder,
    EncodeError,
    Frame,
    FrameError,
    crc16,
    decode_frame,
    encode,
)
from shanshui.hj212.crc import crc16_reference, modbus_crc_text

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hj212"


def _load(name: str) -> list[dict[str, Any]]:
    with (REF / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


VECTORS = _load("vectors.jsonl")
STREAMS = _load("streams.jsonl")
OK = [v for v in VECTORS if v["expect"] == "ok"]
ERR = [v for v in VECTORS if v["expect"] == "error"]


def _bytes(vector: dict[str, Any]) -> bytes:
    if "frame_b64" in vector:
        return base64.b64decode(vector["frame_b64"])
    return str(vector["frame"]).encode("utf-8")


def _events(data: bytes, **kwargs: Any) -> list[Frame | FrameError]:
    dec = Decoder(**kwargs)
    return dec.feed(data) + dec.close()


def test_reference_files_present(shared: Path) -> None:
    assert (shared / "reference" / "hj212" / "vectors.jsonl").is_file()
    assert len(VECTORS) == 87
    assert len(OK) == 66
    assert len(ERR) == 21


def test_appendix_a_check_value() -> None:
    # HJ 212-2017 Appendix A frame (vector v01): CRC 1C80 (the prose misprints 1C08).
    seg = (
        b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
        b"Flag=5;CP=&&RtdInterval=30&&"
    )
    assert crc16(seg) == 0x1C80
    assert crc16_reference(seg) == 0x1C80


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_crc_verdict(vector: dict[str, Any]) -> None:
    raw = _bytes(vector)
    seg, field = raw[6:-4], raw[-4:]
    assert (field.upper() == b"%04X" % crc16(seg)) is vector["crc_ok"]
    assert crc16(seg) == crc16_reference(seg)


@pytest.mark.parametrize("vector", OK, ids=[v["id"] for v in OK])
def test_valid_frame_decodes(vector: dict[str, Any]) -> None:
    raw = _bytes(vector)
    events = _events(raw + b"\r\n")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Frame), event
    assert event.raw == raw
    m = event.message
    assert m.st == vector["st"]
    assert m.cn == vector["cn"]
    assert m.mn == vector["mn"]
    assert m.version == vector["version"]
    for key in ("qn", "pw", "flag", "pnum", "pno", "data_time_raw"):
        if key in vector:
            assert getattr(m, key) == vector[key], key
    assert m.values() == vector["items"]  # numbers compare numerically (5 == 5.0)
    for code, entries in vector["items"].items():
        for suffix, value in entries.items():
            assert type(m.values()[code][suffix]) is (str if isinstance(value, str) else float)
            if not isinstance(value, str):
                assert float(m.items[code][suffix]) == value
    assert m.fields == vector["fields"]
    if vector["data_time"] is None:
        assert m.data_time is None
    else:
        spec = "milliseconds" if len(vector["data_time_raw"]) == 17 else "seconds"
        assert m.data_time is not None
        assert m.data_time.isoformat(timespec=spec) == vector["data_time"]
    if m.flag is not None:
        assert m.ack_required is bool(vector["flag"] & 1)


@pytest.mark.parametrize("vector", OK, ids=[v["id"] for v in OK])
def test_valid_frame_reencodes_to_same_bytes(vector: dict[str, Any]) -> None:
    raw = _bytes(vector)
    message = decode_frame(raw)
    assert encode(message) == raw + b"\r\n"


@pytest.mark.parametrize("vector", ERR, ids=[v["id"] for v in ERR])
def test_bad_frame_is_reported(vector: dict[str, Any]) -> None:
    raw = _bytes(vector)
    for data in (raw + b"\r\n", raw):  # with and without the line end
        events = _events(data)
        assert len(events) == 1, events
        event = events[0]
        assert isinstance(event, FrameError)
        assert event.reason in vector["problems"], (event.reason, vector["problems"])
        assert event.raw == raw
        with pytest.raises(FrameError):
            decode_frame(data)


@pytest.mark.parametrize("vid", ["v35", "v48", "v49"])
def test_segments_over_1024_are_too_long_with_the_standard_limit(vid: str) -> None:
    # README: segment > 1024 is 'too_long' by the standard; the default accepts up to 9999.
    vector = next(v for v in VECTORS if v["id"] == vid)
    events = _events(_bytes(vector) + b"\r\n", max_segment=1024)
    assert [e.reason for e in events if isinstance(e, FrameError)] == ["too_long"]
    assert [type(e) for e in events] == [FrameError]


def test_long_valid_frame_accepted_by_default() -> None:
    # v45: an 872-byte real frame; and a built 1500-byte one, flagged as over the standard.
    long_seg = (
        b"ST=31;CN=2011;PW=123456;MN=X;CP=&&"
        + b";".join(b"a%05d-Rtd=1.0" % i for i in range(110))
        + b"&&"
    )
    frame = b"##%04d%b%04X\r\n" % (len(long_seg), long_seg, crc16(long_seg))
    (event,) = _events(frame)
    assert isinstance(event, Frame)
    assert event.over_standard_length
    assert len(event.message.items) == 110
    (event,) = _events(frame, max_segment=1024)
    assert isinstance(event, FrameError) and event.reason == "too_long"


@pytest.mark.parametrize("vid", ["v47", "v48", "v49"])
def test_modbus_dialect_only_where_configured(vid: str) -> None:
    vector = next(v for v in VECTORS if v["id"] == vid)
    raw = _bytes(vector)
    # The 4 characters are CRC-16/MODBUS printed low byte first (README, vectors v47–v49).
    assert raw[-4:].upper() == modbus_crc_text(raw[6:-4])
    (event,) = _events(raw + b"\r\n")
    assert isinstance(event, FrameError) and event.reason == "crc_mismatch"
    (event,) = _events(raw + b"\r\n", modbus_crc_devices={"someone-else"})
    assert isinstance(event, FrameError) and event.reason == "crc_mismatch"
    (event,) = _events(raw + b"\r\n", modbus_crc_devices={vector["mn"]})
    assert isinstance(event, Frame) and event.crc_dialect == "modbus"
    assert event.message.mn == vector["mn"]
    assert encode(event.message, crc_dialect="modbus") == raw + b"\r\n"


def _chunked(data: bytes, sizes: list[int]) -> list[Frame | FrameError]:
    dec = Decoder()
    events: list[Frame | FrameError] = []
    i = 0
    k = 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        events += dec.feed(data[i : i + size])
        i += size
        k += 1
    return events + dec.close()


@pytest.mark.parametrize("stream", STREAMS, ids=[s["id"] for s in STREAMS])
def test_streams_in_any_chunking(stream: dict[str, Any]) -> None:
    data = base64.b64decode(stream["stream_b64"])
    rng = random.Random(212)
    chunkings = [[len(data)], [1], [2], [3], [7], [64]] + [
        [rng.randint(1, 40) for _ in range(30)] for _ in range(5)
    ]
    whole = _chunked(data, [len(data)])
    frames = [e.raw.decode("latin-1") for e in whole if isinstance(e, Frame)]
    assert frames == stream["expect_frames"]
    for sizes in chunkings:
        assert _chunked(data, sizes) == whole  # errors too, not only frames


def test_too_long_stream_with_the_standard_limit() -> None:
    # streams.jsonl 'too-long-then-valid': with max 1024 the first frame is 'too_long'.
    stream = next(s for s in STREAMS if s["id"] == "too-long-then-valid")
    data = base64.b64decode(stream["stream_b64"])
    for size in (1, 5, len(data)):
        dec = Decoder(max_segment=1024)
        events = [e for i in range(0, len(data), size) for e in dec.feed(data[i : i + size])]
        events += dec.close()
        assert [e.reason for e in events if isinstance(e, FrameError)] == ["too_long"]
        frames = [e.raw.decode() for e in events if isinstance(e, Frame)]
        assert frames == stream["expect_frames"]


def test_v73_length_off_by_digit_keeps_next_frame() -> None:
    # v73: CRC right over the bytes present, length field one more; a following frame
    # without CR LF in between must still decode.
    bad = _bytes(next(v for v in VECTORS if v["id"] == "v73"))
    good = _bytes(next(v for v in VECTORS if v["id"] == "v01"))
    for sep in (b"\r\n", b""):
        events = _events(bad + sep + good + b"\r\n")
        assert [type(e) for e in events] == [FrameError, Frame]
        assert isinstance(events[0], FrameError) and events[0].reason == "length_mismatch"


def test_v70_truncated_fragment_before_frame() -> None:
    frag = _bytes(next(v for v in VECTORS if v["id"] == "v70"))
    good = _bytes(next(v for v in VECTORS if v["id"] == "v01"))
    for sep in (b"\r\n", b""):
        events = _events(frag + sep + good)
        assert [type(e) for e in events] == [FrameError, Frame]


def test_encode_refuses_oversize() -> None:
    message = decode_frame(_bytes(next(v for v in VECTORS if v["id"] == "v45")))
    with pytest.raises(EncodeError):
        encode(message, max_segment=512)


def test_mixed_case_crc_is_damage() -> None:
    # v25 is valid with its lower-case CRC "cc01" and in upper case; "cC01" (a flipped case
    # bit, found by bench/fuzz_hj212.py) is transmission damage, not a CRC convention.
    raw = _bytes(next(v for v in VECTORS if v["id"] == "v25"))
    assert raw.endswith(b"cc01")
    for crc in (b"cc01", b"CC01"):
        (event,) = _events(raw[:-4] + crc + b"\r\n")
        assert isinstance(event, Frame)
        assert encode(event.message) == raw[:-4] + crc + b"\r\n"
    (event,) = _events(raw[:-4] + b"cC01\r\n")
    assert isinstance(event, FrameError) and event.reason == "crc_mismatch"
