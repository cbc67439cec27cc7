"""The platform's history requests built by :func:`shanshui.hj212.replies.history_request`,
checked against the request frames in ../shared/reference/hj212/vectors.jsonl: v22 (HJ/T
212-2005 Appendix C's 2051 request, through teafull/hjt212's encoder) and v77 (a platform's
2061 request), and the layout of HJ 212-2017 Table C.1 / Table 4 (Flag bits)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shanshui.hj212 import CST, EncodeError, crc16, decode_frame, encode, parse_segment
from shanshui.hj212.replies import HISTORY_CNS, history_request

MN = "010000A8900016F000169DC0"


def vector(shared: Path, vid: str) -> dict[str, object]:
    path = shared / "reference" / "hj212" / "vectors.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        v = json.loads(line)
        if v["id"] == vid:
            return dict(v)
    raise AssertionError(f"vector {vid} missing from {path}")


def segment_of(frame: bytes) -> bytes:
    """The data segment of a frame: after ``##`` + 4 length digits, before CRC (+ CR LF)."""
    return frame.rstrip(b"\r\n")[6:-4]


#: vector → (CN, ST, MN, BeginTime, EndTime) as the reference frame carries them
REQUESTS_2005 = {
    "v22": (
        "2051",
        "32",
        "88888880000001",
        datetime(2004, 5, 6, 11, 10),
        datetime(2004, 5, 6, 15, 10),
    ),
    "v77": ("2061", "32", "88888880000020", datetime(2018, 5, 18, 7), datetime(2018, 5, 18, 7)),
}


@pytest.mark.parametrize("vid", sorted(REQUESTS_2005))
def test_2005_request_is_the_reference_frame(shared: Path, vid: str) -> None:
    # HJ/T 212-2005 Appendix C writes requests QN;ST;CN;PW;MN;Flag=3;CP=&&BeginTime,EndTime&&:
    # the whole frame, length and CRC included, must be the reference's bytes.
    ref = vector(shared, vid)
    cn, st, mn, begin, end = REQUESTS_2005[vid]
    got = history_request(
        cn=cn, st=st, pw="123456", mn=mn, begin=begin, end=end, version="2005",
        qn=str(ref["qn"]),
    )  # fmt: skip
    assert encode(got) == str(ref["frame"]).encode() + b"\r\n"
    assert got.version == "2005" and got.flag == 3
    assert dict(got.fields) == ref["fields"]


def test_2017_request_parses_back_with_the_fields() -> None:
    req = history_request(
        cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 6, 1, 0),
        end=datetime(2024, 6, 1, 23), qn="20240602080000123",
    )  # fmt: skip
    frame = encode(req)
    back = parse_segment(segment_of(frame))
    assert (back.qn, back.st, back.cn, back.pw, back.mn) == (
        "20240602080000123", "22", "2061", "123456", MN,
    )  # fmt: skip
    # HJ 212-2017 Table 4: Flag = version bits 000001 << 2 | A=1 → 5 (answer required)
    assert back.flag == 5 and back.version == "2017" and back.ack_required
    assert not back.has_subpackets
    assert dict(back.fields) == {"BeginTime": "20240601000000", "EndTime": "20240601230000"}
    assert back.items == {} and back.data_time is None
    assert decode_frame(frame) == back


def test_2017_cp_has_the_layout_of_v77(shared: Path) -> None:
    # v77: CP=&&BeginTime=…,EndTime=…&& — one group, the two times joined by ','.
    ref = decode_frame(str(vector(shared, "v77")["frame"]).encode())
    req = history_request(
        cn="2061", st="32", pw="123456", mn="88888880000020", begin=datetime(2018, 5, 18, 7),
        end=datetime(2018, 5, 18, 7),
    )  # fmt: skip
    assert req.cp_entries() == ref.cp_entries()
    assert req.cp == ref.cp
    assert req.cp_entries() == (("BeginTime=20180518070000", "EndTime=20180518070000"),)


def test_crc_and_length_follow_the_frame_rules() -> None:
    # HJ 212-2017 §6.3.2: ## + 4-digit length of the data segment + segment + CRC + CR LF;
    # CRC as Appendix A defines it (crc16 checked against the Appendix A frame elsewhere).
    frame = encode(
        history_request(
            cn="2031", st="31", pw="654321", mn=MN, begin=datetime(2024, 1, 1),
            end=datetime(2024, 1, 31), version="2025", qn="20240201000000000",
        )
    )  # fmt: skip
    assert frame.startswith(b"##") and frame.endswith(b"\r\n")
    seg = segment_of(frame)
    assert int(frame[2:6]) == len(seg)
    assert frame.rstrip(b"\r\n")[-4:] == b"%04X" % crc16(seg)
    msg = decode_frame(frame)
    # HJ 212-2025: version bits 000010 → Flag = 8 | A = 9
    assert msg.flag == 9 and msg.version == "2025" and msg.cn == "2031"


def test_aware_times_are_written_in_beijing_time() -> None:
    req = history_request(
        cn="2051", st="22", pw="123456", mn=MN,
        begin=datetime(2024, 5, 31, 16, 0, tzinfo=UTC),  # 2024-06-01 00:00 Beijing (UTC+8)
        end=datetime(2024, 6, 1, 1, 59, 59, 900000, tzinfo=CST),  # fraction dropped
        qn="20240601020000000",
    )  # fmt: skip
    assert dict(req.fields) == {"BeginTime": "20240601000000", "EndTime": "20240601015959"}


def test_default_qn_is_now_in_beijing_time() -> None:
    before = datetime.now(CST).replace(tzinfo=None, microsecond=0)
    req = history_request(
        cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 1),
        end=datetime(2024, 1, 2),
    )  # fmt: skip
    assert req.qn is not None and len(req.qn) == 17
    sent = datetime.strptime(req.qn, "%Y%m%d%H%M%S%f")
    assert before <= sent <= before + timedelta(seconds=5)


def test_history_cns_are_the_requests_of_table_c1() -> None:
    # HJ 212-2017 Table C.1: 2031 day, 2041 run time (day), 2051 minute, 2061 hour.
    assert frozenset({"2031", "2041", "2051", "2061"}) == HISTORY_CNS


@pytest.mark.parametrize("cn", ["2011", "9011", "1011", "2062", "206"])
def test_refuses_a_cn_that_is_not_a_history_request(cn: str) -> None:
    with pytest.raises(EncodeError, match="not a history request"):
        history_request(
            cn=cn, st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 1),
            end=datetime(2024, 1, 2),
        )  # fmt: skip


def test_refuses_begin_after_end() -> None:
    with pytest.raises(EncodeError, match="after EndTime"):
        history_request(
            cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 2),
            end=datetime(2024, 1, 1, 23),
        )  # fmt: skip
    # compared in Beijing time: 2024-01-01 17:00 UTC is 2024-01-02 01:00 in Beijing
    with pytest.raises(EncodeError):
        history_request(
            cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 1, 17, tzinfo=UTC),
            end=datetime(2024, 1, 2, 0, 30),
        )  # fmt: skip
    same = history_request(
        cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 1, 7),
        end=datetime(2024, 1, 1, 7),
    )  # fmt: skip
    assert same.fields["BeginTime"] == same.fields["EndTime"]


def test_refuses_unknown_edition_and_bad_header() -> None:
    with pytest.raises(EncodeError, match="edition"):
        history_request(
            cn="2061", st="22", pw="123456", mn=MN, begin=datetime(2024, 1, 1),
            end=datetime(2024, 1, 2), version="2019",
        )  # fmt: skip
    with pytest.raises(EncodeError):
        history_request(
            cn="2061", st="22", pw="12;456", mn=MN, begin=datetime(2024, 1, 1),
            end=datetime(2024, 1, 2),
        )  # fmt: skip
