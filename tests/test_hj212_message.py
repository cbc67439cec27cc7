"""Data-segment rules of shanshui.hj212.message (HJ 212-2017 §6.3.3) on hand-made segments:
the choices written in the code, checked in both header layouts (the pattern fast path and
the general path) and both CP paths."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

import pytest

from shanshui.hj212 import (
    Decoder,
    EncodeError,
    FrameError,
    Message,
    crc16,
    decode_frame,
    encode,
    format_value,
    parse_segment,
    typed_value,
)

CP = "CP=&&DataTime=20160801080000;a34004-Avg=35.0,a34004-Flag=N&&"


def seg(header: str, cp: str = CP) -> bytes:
    return f"{header};{cp}".encode()


CANONICAL = "QN=20160801085857223;ST=22;CN=2061;PW=123456;MN=AIR001;Flag=5"
SHUFFLED = "MN=AIR001;Flag=5;PW=123456;CN=2061;ST=22;QN=20160801085857223"


def test_header_order_does_not_matter() -> None:
    a = parse_segment(seg(CANONICAL))
    b = parse_segment(seg(SHUFFLED))
    for key in ("qn", "st", "cn", "pw", "mn", "flag", "pnum", "pno", "items", "fields"):
        assert getattr(a, key) == getattr(b, key)
    assert a.header != b.header  # the layout is kept as sent
    sub = parse_segment(seg("ST=31;CN=2051;PW=1;MN=X;PNO=0002;PNUM=0002"))  # v29's order
    assert (sub.pnum, sub.pno, sub.flag, sub.version) == (2, 2, None, "2005")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("Flag", "256"),
        ("Flag", "5a"),
        ("Flag", ""),
        ("ST", "12345"),
        ("ST", "2_2"),
        ("ST", ""),
        ("QN", "2016080108585722a"),
        ("QN", "1" * 21),
        ("CN", "2061a"),
        ("CN", "1234567"),
        ("PW", "x" * 65),
        ("MN", "m" * 65),
    ],
)
def test_bad_header_values_in_both_layouts(field: str, bad: str) -> None:
    for header in (CANONICAL, SHUFFLED):
        parts = [
            p if not p.startswith(field + "=") else f"{field}={bad}" for p in header.split(";")
        ]
        with pytest.raises(FrameError) as info:
            parse_segment(seg(";".join(parts)))
        assert info.value.reason == "bad_field"


@pytest.mark.parametrize(
    "header",
    [
        "ST=22;CN=2061;ST=22",  # twice
        "ST=22",  # no CN
        "CN=2061;PW=1",  # no ST
        "ST=22;CN=2061;Junk",  # no '='
        "ST=22;CN=2061;=5",  # empty key
    ],
)
def test_bad_headers(header: str) -> None:
    with pytest.raises(FrameError):
        parse_segment(seg(header))


@pytest.mark.parametrize(
    "cp",
    [
        "CP=&&a-Rtd=1,b-Rtd&&",  # entry without '='
        "CP=&&a-Rtd=1,=5&&",  # empty key
        "CP=&&DataTime=2016080108000&&",  # 13 digits (v73's damage)
        "CP=&&DataTime=20160230080000&&",  # no 30 February
        "CP=&&a-Rtd=1",  # no closing &&
        "DataTime=20160801080000&&",  # no CP=&&
    ],
)
def test_bad_cp(cp: str) -> None:
    for spaced in ("CP=&&", "CP=&& "):  # the fast path, and the general one (a space)
        with pytest.raises(FrameError) as info:
            parse_segment(seg("ST=22;CN=2011", cp.replace("CP=&&", spaced, 1)))
        assert info.value.reason == "bad_field"


def test_both_cp_paths_agree() -> None:
    cp = "CP=&&DataTime=20160801080000;-Rtd=1;a-Rtd=2,a-Flag=N;b-Rtd=3;QnRtn=1;a-ZsRtd=4&&"
    fast = parse_segment(seg("ST=22;CN=2011", cp))
    slow = parse_segment(seg("ST=22;CN=2011", cp.replace(";b-Rtd", "; b-Rtd")))
    assert (
        fast.items
        == slow.items
        == {
            "a": {"Rtd": "2", "Flag": "N", "ZsRtd": "4"},
            "b": {"Rtd": "3"},
        }
    )
    assert fast.fields == slow.fields == {"-Rtd": "1", "QnRtn": "1"}


def test_info_log_keeps_separators() -> None:
    # HJ 212-2017 Table C.40: logs between // and //; separators inside stay text.
    cp = "CP=&&DataTime=20100301145000;i11001-Info=//a;b,c=d//;w01018-Rtd=1.0&&"
    m = parse_segment(seg("ST=32;CN=3020", cp))
    assert m.items["i11001"]["Info"] == "//a;b,c=d//"
    assert m.items["w01018"]["Rtd"] == "1.0"
    assert m.cp_entries()[1] == ("i11001-Info=//a;b,c=d//",)
    assert parse_segment(m.segment().encode()) == m


def test_trailing_separator_and_empty_cp() -> None:
    m = parse_segment(seg("ST=22;CN=2011", "CP=&&a-Rtd=1;&&"))  # v44's trailing ';'
    assert m.items == {"a": {"Rtd": "1"}} and m.cp == ("a-Rtd=1", "")
    empty = parse_segment(b"ST=91;CN=9014;CP=&&&&")
    assert empty.items == {} and empty.fields == {}


def test_control_and_undecodable_bytes() -> None:
    with pytest.raises(FrameError):
        parse_segment(b"ST=\x00\x00;CN=2051;CP=&&&&")  # v62
    with pytest.raises(FrameError):
        parse_segment(b"ST=22;CN=2011;CP=&&a-Info=\xff\xfe\xff&&")  # neither UTF-8 nor GBK
    with pytest.raises(FrameError):
        parse_segment("ST=22;CN=2011;QN=２０１６;CP=&&&&".encode())  # non-ASCII header


def test_typed_values() -> None:
    # Plain decimals become numbers except text suffixes (README: Flag, EFlag, SampleTime…).
    assert typed_value("Rtd", "0.0000") == 0.0
    assert typed_value("Rtd", "-0.289377") == -0.289377
    assert typed_value("Rtd", "5") == 5.0
    assert typed_value("Rtd", ".5") == 0.5
    for text in ("N", "--1", "1e5", "nan", "inf", "1_000", " 1", "١", "", "-", "1.2.3"):
        assert typed_value("Rtd", text) == text
    assert typed_value("SampleTime", "20160801070000") == "20160801070000"
    assert typed_value("Flag", "3") == "3"


def test_values_and_number() -> None:
    m = parse_segment(seg("ST=22;CN=2011", "CP=&&a-Rtd=0.0000,a-Flag=N,a-Odd=x&&"))
    assert m.values() == {"a": {"Rtd": 0.0, "Flag": "N", "Odd": "x"}}
    assert m.number("a", "Rtd") == 0.0
    assert m.number("a", "Odd") is None and m.number("zz", "Rtd") is None


def test_version_bits() -> None:
    def version(flag: int) -> str | None:
        return parse_segment(seg(f"ST=22;CN=2011;Flag={flag}", "CP=&&&&")).version

    # HJ 212-2017 Table 4: bits 2–7 = edition; HJ 212-2025 uses 2.
    assert [version(f) for f in (0, 1, 3, 4, 5, 7, 8, 9, 11)] == [
        "2005",
        "2005",
        "2005",
        "2017",
        "2017",
        "2017",
        "2025",
        "2025",
        "2025",
    ]
    assert version(12) is None and version(255) is None
    m = parse_segment(seg("ST=22;CN=2011;Flag=7", "CP=&&&&"))
    assert m.ack_required and m.has_subpackets


def test_build_rejects_what_cannot_be_written() -> None:
    base = {"st": "22", "cn": "2011"}
    for bad in ("x;y", "x,y", "a&&b", "tab\there", math.nan, math.inf, True, object()):
        with pytest.raises(EncodeError):
            Message.build(**base, fields={"K": bad})  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        Message.build(**base, fields={"K=": "1"})
    with pytest.raises(EncodeError):
        Message.build(st="22", cn="20x1")
    with pytest.raises(EncodeError):
        Message.build(st="22;", cn="2011")
    with pytest.raises(EncodeError):
        Message.build(**base, items={"a": {}})
    with pytest.raises(EncodeError):
        Message.build(**base, fields={"K": "清洗"}, encoding="ascii")


def test_format_value() -> None:
    assert format_value(1e-7) == "0.0000001"
    assert format_value(35.0) == "35.0"
    assert format_value(1425) == "1425"
    assert format_value(Decimal("0.0000")) == "0.0000"
    assert format_value("//a;b//") == "//a;b//"


def test_replace_keeps_exact_text() -> None:
    raw = (
        b"QN=20180703105956001;ST=31;CN=2011;PW=123456;MN=12345678901235;Flag=5;"
        b"CP=&&DataTime=20180703105900;TVOC-Rtd=0.0000,TVOC-Flag=N&&"
    )
    m = parse_segment(raw)
    changed = m.replace(qn="20180703105956002")
    assert changed.items == m.items
    assert b"TVOC-Rtd=0.0000" in encode(changed)
    assert m._replace(flag=4).flag == 4  # the NamedTuple method rebuilds as well
    with pytest.raises(EncodeError):
        m.replace(colour="red")


def test_build_time_forms() -> None:
    m = Message.build(st="22", cn="2061", data_time=datetime(2016, 8, 1, 8))
    assert m.data_time_raw == "20160801080000"
    assert m.data_time == datetime(2016, 8, 1, 8)
    ms = Message.build(st="22", cn="2011", data_time="20160823234320123")
    assert ms.data_time == datetime(2016, 8, 23, 23, 43, 20, 123000)


def test_decoder_arguments_and_decode_frame() -> None:
    with pytest.raises(ValueError, match="max_segment"):
        Decoder(max_segment=0)
    one = seg(CANONICAL)
    frame = b"##%04d%b%04X\r\n" % (len(one), one, crc16(one))
    with pytest.raises(FrameError):
        decode_frame(frame + frame)  # two frames are not one
    with pytest.raises(FrameError):
        decode_frame(b"")
    assert decode_frame(frame).cn == "2061"
    assert Decoder().feed(memoryview(frame))[0] == Decoder().feed(frame)[0]


def test_garbage_is_reported_per_line_and_bounded() -> None:
    dec = Decoder()
    events = dec.feed(b"x" * 5000)
    assert [len(e.raw) for e in events if isinstance(e, FrameError)] == [1024] * 4
    assert dec.buffered < 1024
    assert [len(e.raw) for e in dec.close() if isinstance(e, FrameError)] == [904]
    assert Decoder().feed(b"\r\n\r\n  \n") == []  # blank lines are not garbage


def test_header_memo_gives_each_frame_its_own_qn_and_still_checks_it() -> None:
    # The decoder memoises the header after QN (constant for one device); QN is still read
    # and checked per segment (HJ 212-2017 Table 4: QN YYYYMMDDhhmmsszzz; choice 1-20 digits).
    tail = "ST=22;CN=2061;PW=123456;MN=MEMO01;Flag=5"
    first = parse_segment(seg(f"QN=20160801085857223;{tail}"))
    second = parse_segment(seg(f"QN=20160801085858001;{tail}"))
    assert (first.qn, second.qn) == ("20160801085857223", "20160801085858001")
    assert second.header == ("QN=20160801085858001", *tail.split(";"))
    assert (second.st, second.cn, second.pw, second.mn, second.flag) == (
        "22",
        "2061",
        "123456",
        "MEMO01",
        5,
    )
    no_qn = parse_segment(seg(tail))  # 2005 layout: no QN, the same memo entry
    assert no_qn.qn is None and no_qn.header == tuple(tail.split(";"))
    for bad_qn in ("2016080108585722X", "1" * 21, ""):
        with pytest.raises(FrameError) as info:
            parse_segment(seg(f"QN={bad_qn};{tail}"))
        assert info.value.reason == "bad_field"


def test_data_time_memo_still_rejects_bad_times() -> None:
    # HJ 212-2017 Table 6: DataTime YYYYMMDDhhmmss; a memo of good times admits no bad one.
    good = parse_segment(seg("ST=22;CN=2011", "CP=&&DataTime=20160229080000&&"))
    assert good.data_time == datetime(2016, 2, 29, 8)
    again = parse_segment(seg("ST=22;CN=2011", "CP=&&DataTime=20160229080000&&"))
    assert again.data_time == datetime(2016, 2, 29, 8)
    with pytest.raises(FrameError):
        parse_segment(seg("ST=22;CN=2011", "CP=&&DataTime=20170229080000&&"))


@pytest.mark.parametrize("byte", [*range(32), 0x7F])
def test_every_control_byte_is_refused(byte: int) -> None:
    # Control characters are never valid in a segment (the rule in _parse; vector v62).
    for text in (f"ST=22;CN=2011;CP=&&a-Rtd=1{chr(byte)}&&", f"ST=2{chr(byte)};CN=2011;CP=&&&&"):
        with pytest.raises(FrameError) as info:
            parse_segment(text.encode())
        assert info.value.reason == "bad_field"


def test_one_whole_frame_per_feed_fast_path() -> None:
    # HJ 212-2017 §6.3.2: ## + length + segment + CRC + CR LF; one frame per feed() call
    # takes the decoder's fast path, which must give the general path's verdicts.
    body = seg("QN=20160801085857000;ST=22;CN=2061;PW=123456;MN=AIR001;Flag=5")
    crc = b"%04X" % crc16(body)
    assert not crc.isdigit()  # letters, so that the lower-case form differs
    frame = b"##%04d%s%s" % (len(body), body, crc)
    for ending in (b"\r\n", b"\n"):
        (event,) = Decoder().feed(frame + ending)
        assert not isinstance(event, FrameError) and event.raw == frame
        (event,) = Decoder().feed(frame[:-4] + crc.lower() + ending)
        assert not isinstance(event, FrameError) and event.message.crc_lower
        (event,) = Decoder().feed(frame[:-4] + b"0000" + ending)
        assert isinstance(event, FrameError) and event.reason == "crc_mismatch"
    bad = body.replace(b"CN=2061", b"CN=20a1")  # CN must be digits (module choice)
    frame = b"##%04d%s%04X" % (len(bad), bad, crc16(bad))
    (event,) = Decoder().feed(frame + b"\r\n")
    assert isinstance(event, FrameError) and event.reason == "bad_field" and event.raw == frame


def test_cp_keys_split_at_the_first_dash_whether_memoised_or_not() -> None:
    # HJ 212-2017 §6.3.3.2: "code-Suffix"; the decoder memoises keys up to 64 characters.
    long_code = "c" * 70
    cp = f"CP=&&a-Zs-Rtd=1,a-Flag=N;{long_code}-Rtd=2;-Rtd=3&&"
    for _ in range(2):  # the second pass reads the memo
        m = parse_segment(seg("ST=22;CN=2011", cp))
        assert m.items == {"a": {"Zs-Rtd": "1", "Flag": "N"}, long_code: {"Rtd": "2"}}
        assert m.fields == {"-Rtd": "3"}
