"""Answers and uploads built by shanshui.hj212.replies, checked against the standards'
examples in ../shared/reference/hj212/vectors.jsonl (HJ 212-2017 Appendix C tables C.1,
C.11, C.24, C.50; HJ/T 212-2005 Appendix C)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shanshui.hj212 import (
    CST,
    Decoder,
    EncodeError,
    Frame,
    Message,
    codes,
    data_ack,
    decode_frame,
    encode,
    execution_result,
    heartbeat,
    make_qn,
    notice_ack,
    platform_replies,
    request_ack,
    split_upload,
    upload,
)

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hj212"
VECTORS = {
    v["id"]: v
    for v in map(json.loads, (REF / "vectors.jsonl").read_text(encoding="utf-8").splitlines())
}


def frame(vid: str) -> bytes:
    v = VECTORS[vid]
    if "frame_b64" in v:
        return base64.b64decode(v["frame_b64"])
    return str(v["frame"]).encode("utf-8")


def msg(vid: str) -> Message:
    return decode_frame(frame(vid))


@pytest.mark.parametrize(
    ("upload_id", "answer_id"),
    [("v07", "v08"), ("v13", "v14"), ("v41", "v42")],
)
def test_data_ack_2017_matches_the_standard(upload_id: str, answer_id: str) -> None:
    # Table C.24 (2081 → 9014), C.50 (sub-packet 1 → its own 9014), v41 → v42 (lower case).
    expected = frame(answer_id)
    lower = expected[-4:].islower()
    assert encode(data_ack(msg(upload_id)), lower_crc=lower) == expected + b"\r\n"


def test_one_data_ack_per_subpacket() -> None:
    # HJ 212-2017 Table C.50: each sub-packet has its own QN and gets its own 9014.
    acks = [data_ack(msg(v)) for v in ("v13", "v15")]
    assert [a.qn for a in acks] == ["20160801085857534", "20160801085857535"]
    assert all(a.cn == "9014" and a.st == "91" and a.flag == 4 for a in acks)


def test_data_ack_2005_layout() -> None:
    # HJ/T 212-2005: ST=91;CN=9014;CP=&&QN=<qn>;CN=<cn>&& (vector v20).
    up = Message.build(
        qn="20040516010101001", st="32", cn="2051", pw="123456", mn="88888880000001", flag=1
    )
    assert encode(data_ack(up)) == frame("v20") + b"\r\n"


def test_data_ack_2025_keeps_version_bits() -> None:
    # v80: a 9014 with Flag=8 (HJ 212-2025 version bits 000010, A=0).
    up = Message.build(
        qn="20260706103512345", st="22", cn="2061", pw="123456", mn="A110000_0001", flag=9
    )
    assert encode(data_ack(up)) == frame("v80") + b"\r\n"


def test_request_answers_2017() -> None:
    # Table C.1: request 1000 (v02) → 9011 QnRtn=1 (v03) → 9012 ExeRtn=1 (v04).
    request = msg("v02")
    assert encode(request_ack(request)) == frame("v03") + b"\r\n"
    assert encode(execution_result(request)) == frame("v04") + b"\r\n"


def test_request_answers_2005() -> None:
    # HJ/T 212-2005 Appendix C: 1072 (v17) → 9011 with QN in CP (v18) → 9012 (v19).
    request = msg("v17")
    assert encode(request_ack(request)) == frame("v18") + b"\r\n"
    assert encode(execution_result(request)) == frame("v19") + b"\r\n"


def test_notice_ack_2017() -> None:
    # Table C.11: notice 2012 (v05) answered with 9013 (v06).
    assert encode(notice_ack(msg("v05"))) == frame("v06") + b"\r\n"


def test_platform_replies() -> None:
    assert [m.cn for m in platform_replies(msg("v12"))] == ["9014"]  # Flag=5 upload
    assert platform_replies(msg("v25")) == []  # Flag=4: no answer expected
    assert platform_replies(msg("v50")) == []  # 2005 upload without Flag
    for answer in ("v03", "v04", "v06", "v08", "v81"):  # never answer an answer
        assert platform_replies(msg(answer)) == []
    (reply,) = platform_replies(msg("v57"))  # 2005 alarm 2072, Flag=1 → 9013
    assert reply.cn == "9013"
    assert reply.fields["QN"] == "20160823235559979"
    with pytest.raises(EncodeError):
        data_ack(msg("v08"))


def test_make_qn() -> None:
    assert make_qn(datetime(2016, 8, 1, 8, 58, 57, 223000)) == "20160801085857223"
    utc = datetime(2016, 8, 1, 0, 58, 57, 223000, tzinfo=UTC)
    assert make_qn(utc) == "20160801085857223"  # Beijing time, UTC+8


def test_hourly_upload_round_trip() -> None:
    when = datetime(2024, 6, 1, 8, tzinfo=CST)
    up = upload(
        "2061",
        st="22",
        mn="010000A8900016F000169DC0",
        pw="123456",
        data_time=when,
        items={"a34004": {"Avg": 35.2, "Flag": "N"}, "a21005": {"Avg": "0.612", "Flag": "N"}},
    )
    assert up.flag == 5 and up.version == "2017" and up.ack_required
    assert up.qn == "20240601080000000"
    back = decode_frame(encode(up))
    assert back == up
    assert back.items == {
        "a34004": {"Avg": "35.2", "Flag": "N"},
        "a21005": {"Avg": "0.612", "Flag": "N"},
    }
    assert back.number("a21005", "Avg") == 0.612
    old = upload(
        "2011", st="32", mn="X", pw="1", data_time="20240601080000", items={}, version="2005"
    )
    assert old.flag is None and old.qn is None and old.version == "2005"


def test_heartbeat() -> None:
    hb = heartbeat(mn="A110000_0001", pw="123456", when=datetime(2026, 7, 6, 10, 35, 12, 345000))
    assert hb.cn == "9015" and hb.flag == 8 and not hb.ack_required
    assert platform_replies(hb) == []


def test_split_upload_into_subpackets() -> None:
    items = {f"a{i:05d}": {"Avg": f"{i}.5", "Flag": "N"} for i in range(60)}
    up = upload("2061", st="22", mn="M", pw="P", data_time=datetime(2024, 6, 1, 8), items=items)
    parts = split_upload(up, max_segment=400)
    assert len(parts) > 1
    merged: dict[str, dict[str, str]] = {}
    for number, part in enumerate(parts, start=1):
        raw = encode(part)
        assert len(raw) - 12 <= 400
        assert part.pnum == len(parts) and part.pno == number and part.flag == 7
        assert part.data_time_raw == "20240601080000"
        merged.update({k: dict(v) for k, v in part.items.items()})
    assert merged == items
    assert len({p.qn for p in parts}) == len(parts)
    first = datetime.strptime(str(parts[0].qn), "%Y%m%d%H%M%S%f")
    assert datetime.strptime(str(parts[1].qn), "%Y%m%d%H%M%S%f") - first == timedelta(
        milliseconds=1
    )
    events = Decoder().feed(b"".join(encode(p) for p in parts))
    assert all(isinstance(e, Frame) for e in events)
    small = upload("2061", st="22", mn="M", pw="P", data_time="20240601080000", items={})
    assert split_upload(small) == [small]


def test_code_tables() -> None:
    # README "Codes": flue gas 2005 → 2017; data flags of HJ 212-2017 Table 6.
    assert codes.to_2017("B02", "31") == "a00000"
    assert codes.to_2017("S01", "31") == "a19001"
    assert codes.to_2017("011", "32") == "w01018"
    assert codes.to_2005("w21003", "32") == "060"
    assert codes.to_2017("PM25", "22") == "PM25"  # vendor codes kept
    assert set(codes.DATA_FLAGS) == set("NFMSDCTB")
    assert codes.POLLUTANTS["a21005"].unit == "mg/m³"
    assert codes.ST_CODES["22"].en == "ambient air quality"
    assert codes.CN_CODES["9014"].note == "answer"
