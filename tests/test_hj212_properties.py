"""Property tests of the HJ 212 codec (hypothesis): encode → decode round-trips any
message; any stream decodes the same in any chunking; no input makes the decoder raise."""

from __future__ import annotations

import string
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shanshui.hj212 import (
    Decoder,
    Frame,
    FrameError,
    Message,
    crc16,
    decode_frame,
    encode,
)
from shanshui.hj212.crc import crc16_reference

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ALNUM = string.ascii_letters + string.digits
_TEXT = _ALNUM + "_-.+:/#@!()[] 清洗管路"

codes = st.text(_ALNUM + "_", min_size=1, max_size=8)
suffixes = st.text(_ALNUM + "_-", min_size=1, max_size=8)
decimals = st.builds(
    lambda sign, whole, frac: f"{sign}{whole}{'.' + frac if frac is not None else ''}",
    st.sampled_from(["", "-"]),
    st.integers(0, 10**9),
    st.none() | st.text(string.digits, min_size=1, max_size=6),
)
texts = st.text(_TEXT, max_size=12).filter(lambda s: "&&" not in s and "//" not in s)
logs = (
    st.text(_TEXT + ";,=", max_size=12)
    .map(lambda s: f"//{s}//")
    .filter(lambda s: "&&" not in s and "//" not in s[2:-2])
)
values = st.one_of(decimals, texts, logs, st.sampled_from(["N", "F", "M", "S", "D", "C", "T", "B"]))
items = st.dictionaries(
    codes, st.dictionaries(suffixes, values, min_size=1, max_size=4), max_size=6
)
field_keys = st.text(string.ascii_letters, min_size=1, max_size=10).filter(
    lambda k: k != "DataTime"
)
fields = st.dictionaries(field_keys, values, max_size=3)
header_text = st.text(_ALNUM + "_-", max_size=24)
times = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
    lambda t: t.replace(microsecond=0)
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message.build(
        st=draw(
            st.sampled_from(["21", "22", "23", "31", "32", "91", "101"])
            | st.text(_ALNUM, min_size=1, max_size=4)
        ),
        cn=draw(st.text(string.digits, min_size=4, max_size=4)),
        qn=draw(st.none() | st.text(string.digits, min_size=13, max_size=17)),
        pw=draw(st.none() | header_text),
        mn=draw(st.none() | header_text),
        flag=draw(st.none() | st.integers(0, 255)),
        pnum=draw(st.none() | st.integers(1, 9999)),
        pno=draw(st.none() | st.integers(1, 9999)),
        data_time=draw(st.none() | times),
        items=draw(items),
        fields=draw(fields),
        encoding=draw(st.sampled_from(["utf-8", "gbk"])),
    )


def _same(a: Message, b: Message) -> bool:
    """Equal meaning and layout (pure ASCII text reads back as utf-8 whatever it was built as)."""
    return tuple(a)[:-2] == tuple(b)[:-2]


@SETTINGS
@given(messages())
def test_encode_decode_round_trip(message: Message) -> None:
    raw = encode(message)
    assert raw.endswith(b"\r\n")
    back = decode_frame(raw)
    assert encode(back) == raw
    seg = raw[6:-6]
    try:
        seg.decode("utf-8")
        ambiguous = message.encoding == "gbk" and not seg.isascii()
    except UnicodeDecodeError:
        ambiguous = False
    if ambiguous:  # GBK bytes that are also UTF-8 read as UTF-8 (the standard's choice)
        assert back.encoding == "utf-8"
    else:
        assert _same(back, message)


@SETTINGS
@given(
    items.filter(bool),
    fields,
    times,
    st.text(string.digits, min_size=17, max_size=17),
)
def test_built_meaning_survives(
    item_values: dict[str, dict[str, str]], extra: dict[str, str], when: datetime, qn: str
) -> None:
    message = Message.build(
        qn=qn,
        st="22",
        cn="2061",
        pw="123456",
        mn="M1",
        flag=5,
        data_time=when,
        items=item_values,
        fields=extra,
    )
    back = decode_frame(encode(message))
    assert back.items == item_values
    assert back.fields == extra
    assert back.data_time == when
    assert back.qn == qn and back.flag == 5 and back.ack_required and back.version == "2017"


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def _decode(pieces: list[bytes]) -> list[Frame | FrameError]:
    dec = Decoder()
    events: list[Frame | FrameError] = []
    for piece in pieces:
        events += dec.feed(piece)
    return events + dec.close()


@SETTINGS
@given(
    st.lists(
        st.tuples(messages(), st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\n"])),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.integers(0, 10**6), max_size=12),
)
def test_valid_stream_in_any_chunking(parts: list[tuple[Message, bytes]], cuts: list[int]) -> None:
    stream = b"".join(encode(m)[:-2] + sep for m, sep in parts)
    whole = _decode([stream])
    assert [encode(e.message) for e in whole if isinstance(e, Frame)] == [
        encode(m) for m, _ in parts
    ]
    assert all(isinstance(e, Frame) for e in whole)
    assert _decode(_chunks(stream, cuts)) == whole
    assert _decode([stream[i : i + 1] for i in range(len(stream))]) == whole


noise = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"##", b"##0", b"##0101", b"\r\n", b"&&", b"&&1C80", b"#", b"\n", b"##9999"]),
)


@SETTINGS
@given(
    st.lists(st.one_of(messages().map(encode), noise), max_size=8),
    st.lists(st.integers(0, 10**6), max_size=12),
    st.sampled_from([1024, 9999, 200]),
)
def test_any_bytes_same_events_in_any_chunking(
    pieces: list[bytes], cuts: list[int], max_segment: int
) -> None:
    stream = b"".join(pieces)

    def run(chunks: list[bytes]) -> list[Frame | FrameError]:
        dec = Decoder(max_segment=max_segment)
        events: list[Frame | FrameError] = []
        for chunk in chunks:
            events += dec.feed(chunk)
        return events + dec.close()

    whole = run([stream])
    assert all(isinstance(e, Frame | FrameError) for e in whole)
    assert run(_chunks(stream, cuts)) == whole
    assert run([stream[i : i + 1] for i in range(len(stream))]) == whole
    # Every byte is accounted for: frames and errors never overlap or invent bytes.
    assert sum(len(e.raw) for e in whole if isinstance(e, Frame)) <= len(stream)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_fast_crc_equals_the_standards_loop(data: bytes) -> None:
    # HJ 212-2017 Appendix A loop vs the folded implementation.
    assert crc16(data) == crc16_reference(data)
