"""The gateway's per-connection protocol logic, fed bytes in-process (no sockets).

References: HJ 212-2017 §6.5.1 and Table 4 (Flag bits, 9014 answers), the reference frames
in ``shared/reference/hj212/vectors.jsonl`` (v08, v20, v80: answers as the standards and
public implementations print them) and the mapping written in the gateway brief.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shanshui.hj212 import Message, decode_frame, encode
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.readings import to_rows
from shanshui.ingest.session import (
    COLUMNS,
    DeviceEntry,
    Limits,
    Session,
    ack_frame,
    decode_payload,
)

MN = "010000A8900016F000169DC0"


class Directory:
    def __init__(self) -> None:
        self.devices = {
            MN: DeviceEntry(MN, "active", "hash", "1001A"),
            "PENDING1": DeviceEntry("PENDING1", "pending", "hash", "1001A"),
            "NOSITE": DeviceEntry("NOSITE", "active", "hash", None),
        }
        self.unknown: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.seen: list[str] = []
        self.verified = 0

    def lookup(self, mn: str) -> DeviceEntry | None:
        return self.devices.get(mn)

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        return None

    async def verify(self, device: DeviceEntry, password: str) -> bool:
        self.verified += 1
        return password == "123456"

    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None:
        self.unknown.append((mn, peer))

    def note_refused(self, mn: str, peer: str) -> None:
        self.refused.append(mn)

    def note_seen(self, mn: str, peer: str) -> None:
        self.seen.append(mn)


class Committer:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.gate: asyncio.Event | None = None

    async def commit(self, payloads: list[bytes]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.payloads.extend(payloads)

    def rows(self) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for p in self.payloads:
            cols = decode_payload(p)[1]
            out += zip(*(cols[c] for c in COLUMNS), strict=True)
        return out


def make_session(limits: Limits | None = None) -> tuple[Session, Directory, Committer]:
    directory, committer = Directory(), Committer()
    session = Session("127.0.0.1:9", directory, committer, GatewayMetrics(), limits)
    return session, directory, committer


def upload(
    *,
    cn: str = "2061",
    flag: int | None = 5,
    qn: str = "20160801085857223",
    mn: str = MN,
    pw: str = "123456",
    st: str = "22",
    items: dict[str, dict[str, object]] | None = None,
    pnum: int | None = None,
    pno: int | None = None,
    data_time: str | None = "20160801080000",
) -> bytes:
    msg = Message.build(
        st=st, cn=cn, qn=qn, pw=pw, mn=mn, flag=flag, pnum=pnum, pno=pno,
        data_time=data_time,
        items=items if items is not None else {"a34004": {"Avg": "35.5", "Flag": "N"}},
    )  # fmt: skip
    return encode(msg)


def run(session: Session, data: bytes) -> list[bytes]:
    return asyncio.run(session.handle(data))


@pytest.fixture(scope="module")
def vectors(shared: Path) -> dict[str, dict[str, object]]:
    path = shared / "reference" / "hj212" / "vectors.jsonl"
    return {v["id"]: v for v in map(json.loads, path.read_text().splitlines())}


# -- answers in the upload's edition (reference frames) --------------------------------------
def test_ack_2017_matches_the_standard_example(vectors: dict[str, dict[str, object]]) -> None:
    # v08: HJ 212-2017 Appendix C, the 9014 answering QN=20160801085857223 (Flag=4).
    session, _, _ = make_session()
    replies = run(session, upload(qn="20160801085857223", flag=5))
    assert replies == [str(vectors["v08"]["frame"]).encode() + b"\r\n"]


def test_ack_2025_keeps_the_edition_bits(vectors: dict[str, dict[str, object]]) -> None:
    # v80: a 2025 9014 has Flag=8 (version bits 000010, A=0).
    v80 = vectors["v80"]
    msg = Message.build(
        st="22", cn="2061", qn=str(v80["qn"]), pw="123456", mn="A110000_0001", flag=9,
        data_time="20260706100000", items={"a34004": {"Avg": "1"}},
    )  # fmt: skip
    assert ack_frame(msg) == str(v80["frame"]).encode() + b"\r\n"


def test_ack_2005_layout(vectors: dict[str, dict[str, object]]) -> None:
    # v20: HJ/T 212-2005 Appendix C example 6, answering a 2051 upload.
    msg = Message.build(
        st="32", cn="2051", qn="20040516010101001", pw="123456", mn="88888880000001", flag=1,
        data_time="20040516010000", items={"B01": {"Avg": "1"}},
    )  # fmt: skip
    assert ack_frame(msg) == str(vectors["v20"]["frame"]).encode() + b"\r\n"


@pytest.mark.parametrize("flag", [5, 7, 9, 11, 1])
def test_fast_ack_equals_the_codec_reply(flag: int) -> None:
    # the gateway writes 9014s directly; they must be the codec's data_ack bytes
    from shanshui.hj212.replies import data_ack

    msg = decode_frame(upload(flag=flag, pnum=1 if flag & 2 else None, pno=1 if flag & 2 else None))
    assert ack_frame(msg) == encode(data_ack(msg))


def test_no_ack_without_flag_a_but_data_kept() -> None:
    session, _, committer = make_session()
    assert run(session, upload(flag=4)) == []
    assert len(committer.rows()) == 1


def test_one_ack_per_subpacket_with_its_qn() -> None:
    session, _, committer = make_session()
    data = upload(qn="20200101000000001", flag=7, pnum=2, pno=1) + upload(
        qn="20200101000000002", flag=7, pnum=2, pno=2, items={"a34002": {"Avg": "80"}}
    )
    replies = run(session, data)
    qns = [decode_frame(r).qn for r in replies]
    assert qns == ["20200101000000001", "20200101000000002"]
    assert all(decode_frame(r).cn == "9014" and decode_frame(r).flag == 4 for r in replies)
    assert {r[1] for r in committer.rows()} == {"PM2.5", "PM10"}


def test_answers_are_never_answered() -> None:
    session, _, committer = make_session()
    for cn in ("9013", "9014", "9011", "9012"):
        assert run(session, upload(cn=cn, st="91", flag=5, items={})) == []
    assert committer.payloads == []


def test_clock_request_gets_a_9013_notice_answer() -> None:
    session, _, _ = make_session()
    reply, setting = run(session, upload(cn="1013", flag=5, items={}, data_time=None))
    assert decode_frame(reply).cn == "9013"
    assert decode_frame(setting).cn == "1012"  # then its clock is set (tests/test_clock_set.py)


def test_heartbeat_with_a_is_acknowledged_and_stores_nothing() -> None:
    session, directory, committer = make_session()
    (reply,) = run(session, upload(cn="9015", flag=5, items={}, data_time=None))
    assert decode_frame(reply).cn == "9014"
    assert committer.payloads == [] and directory.seen == [MN]


def test_ack_only_after_durable() -> None:
    async def scenario() -> None:
        session, _, committer = make_session()
        committer.gate = asyncio.Event()
        task = asyncio.create_task(session.handle(upload()))
        await asyncio.sleep(0.05)
        assert not task.done()  # the answer waits for the journal
        committer.gate.set()
        assert len(await task) == 1

    asyncio.run(scenario())


# -- authentication ----------------------------------------------------------------------------
def test_unknown_device_is_listed_not_stored_not_answered() -> None:
    session, directory, committer = make_session()
    assert run(session, upload(mn="NEWDEVICE0001")) == []
    assert directory.unknown == [("NEWDEVICE0001", "127.0.0.1:9")]
    assert committer.payloads == []
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="unknown_device")
        == 1
    )


def test_pending_device_is_not_stored() -> None:
    session, _, committer = make_session()
    assert run(session, upload(mn="PENDING1")) == []
    assert committer.payloads == []
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="pending_device")
        == 1
    )


def test_wrong_password_refused_and_counted() -> None:
    session, directory, committer = make_session()
    assert run(session, upload(pw="000000") + upload(pw="111111")) == []
    assert directory.refused == [MN, MN]
    assert committer.payloads == []
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="bad_password") == 2
    )


def test_device_without_site_is_refused() -> None:
    session, _, committer = make_session()
    assert run(session, upload(mn="NOSITE")) == []
    assert committer.payloads == []


# -- mapping -----------------------------------------------------------------------------------
def test_mapping_of_air_codes_statistics_and_flags() -> None:
    msg = Message.build(
        st="22", cn="2061", qn="1", pw="1", mn="M", flag=4, data_time="20140101000000",
        items={
            "a34004": {"Avg": "10", "Min": "5", "Max": "20", "Flag": "D"},
            "a34002": {"Avg": "30"},
            "a21026": {"Avg": "3"}, "a21004": {"Avg": "4"}, "a05024": {"Avg": "5"},
            "a21005": {"Avg": "0.6"}, "PM25": {"Avg": "11", "EFlag": "x"},
        },
    )  # fmt: skip
    rows = {(r[1], r[2]): r for r in to_rows(msg, "1001A")}
    assert rows["PM2.5", "avg"][5] == 10.0 and rows["PM2.5", "avg"][6] == "D"
    assert rows["PM2.5", "min"][5] == 5.0 and rows["PM2.5", "max"][5] == 20.0
    for par in ("PM10", "SO2", "NO2", "O3", "CO"):
        assert rows[par, "avg"][6] == "N" and rows[par, "avg"][3] == "hour"
    assert rows["CO", "avg"][5] == 0.6
    assert rows["PM25", "avg"][5] == 11.0  # vendor code kept under its own code
    assert len(rows) == 9  # EFlag is not a reading
    # DataTime 2014-01-01 00:00 Beijing = 2013-12-31 16:00 UTC (start of the hour)
    expected = int(datetime(2013, 12, 31, 16, tzinfo=UTC).timestamp()) * 1_000_000
    assert rows["PM10", "avg"][4] == expected


def test_period_by_cn_and_flue_gas_codes_kept() -> None:
    for cn, period in (("2011", "rt"), ("2051", "minute"), ("2061", "hour"), ("2031", "day")):
        msg = Message.build(
            st="31", cn=cn, data_time="20140101000000", items={"a21026": {"Rtd": "7"}}
        )
        (row,) = to_rows(msg, "S1")
        assert row[3] == period and row[1] == "a21026" and row[2] == "rtd"


# -- limits ------------------------------------------------------------------------------------
def test_too_long_frame_is_rejected() -> None:
    session, _, committer = make_session(Limits(max_segment=200))
    big = upload(items={f"x{i:04d}": {"Avg": "1.5"} for i in range(40)})
    assert run(session, big + upload()) != []
    assert session.metrics.value("shanshui_gateway_frames_rejected_total", reason="too_long") == 1
    assert len(committer.rows()) == 1


def test_rate_limit_drops_frames_over_budget() -> None:
    session, _, committer = make_session(Limits(frames_per_second=0.001, burst=2))
    replies = run(session, b"".join(upload(qn=f"2020010100000000{i}") for i in range(5)))
    assert len(replies) == 2 and len(committer.rows()) == 2
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="rate_limited") == 3
    )


def test_too_many_bad_frames_close_the_connection() -> None:
    session, _, _ = make_session(Limits(max_errors=3))
    bad = upload()[:-6] + b"0000\r\n"  # CRC replaced
    run(session, bad * 5)
    assert session.closing == "too_many_errors"
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="crc_mismatch") == 3
    )


def test_partial_frame_is_tracked_for_the_slow_read_timeout() -> None:
    session, _, _ = make_session()
    run(session, upload()[:10])
    assert session.partial_since is not None and session.decoder.buffered == 10


def test_a_value_too_long_for_a_float_is_not_a_reading() -> None:
    # 400 digits overflow float to inf, which the store refuses: the value is left out at the
    # gateway (never journaled and acknowledged), the frame's other values are kept.
    from shanshui.ingest.readings import to_rows

    msg = Message.build(
        st="22", cn="2061", mn="MN1", data_time="20140101080000",
        items={"a34004": {"Avg": "1" * 400}, "a34002": {"Avg": "70"}},
    )  # fmt: skip
    rows = to_rows(msg, "1001A")
    assert [(r[1], r[5]) for r in rows] == [("PM10", 70.0)]


# -- the lean ack path (shanshui.hj212.scan) -----------------------------------------------------
def test_a_frame_with_undecodable_cp_is_acknowledged_and_journaled_whole() -> None:
    # The written choice: CRC and header are checked before the answer, CP by the writer
    # (which dead-letters this frame: "junk" names no measurement, tests/test_salvage.py);
    # the journal keeps the frame's segment as received.
    from shanshui.hj212 import frame_segment
    from shanshui.ingest.payload import frames_of

    segment = (
        b"QN=20160801085857223;ST=22;CN=2061;PW=123456;MN=" + MN.encode() + b";Flag=5;"
        b"CP=&&DataTime=20160801080000;junk;a34004-Avg=1&&"
    )
    session, _, committer = make_session()
    (reply,) = run(session, frame_segment(segment))
    assert decode_frame(reply).cn == "9014"
    (record,) = committer.payloads
    assert frames_of(record)[1:] == ([segment], ["1001A"])
    assert committer.rows() == []  # no reading: the writer dead-letters it


def test_a_device_changed_by_a_refresh_is_checked_again() -> None:
    # the connection remembers its device between chunks only while the directory returns
    # the same entry: an operator disabling it takes effect at the next chunk
    session, directory, committer = make_session()
    assert len(run(session, upload())) == 1
    assert directory.verified == 1
    assert len(run(session, upload(qn="20160801085857224"))) == 1
    assert directory.verified == 1  # not verified again
    directory.devices[MN] = DeviceEntry(MN, "disabled", "hash", "1001A")
    assert run(session, upload(qn="20160801085857225")) == []
    assert len(committer.payloads) == 2


def test_a_stream_of_frames_that_never_drains_is_not_a_slow_read() -> None:
    """A logger back-filling its history over a slow link: every read ends inside a frame,
    but frames keep completing. The slow-read limit is on one frame's arrival: the partial
    frame's time restarts whenever a frame completes, and grows only while none does."""
    clock = [0.0]
    session = Session("127.0.0.1:9", Directory(), Committer(), GatewayMetrics(), None,
                      clock=lambda: clock[0])  # fmt: skip
    stream = b"".join(upload(qn=f"2020010100000000{i}") for i in range(6))
    size = len(upload())
    for k, at in enumerate(range(0, len(stream), size)):  # one frame a read, half a frame off
        clock[0] = 10.0 * k
        run(session, stream[max(0, at - size // 2) : at + size // 2])
        assert session.partial_since == clock[0]  # the frame begun in this read
    clock[0] += 25.0
    run(session, b"")  # nothing completes: the partial frame keeps its time
    assert session.partial_since == clock[0] - 25.0


def test_a_data_time_ahead_of_the_clock_is_refused() -> None:
    """A logger whose clock runs a day fast: its upload is not acknowledged nor journaled,
    and counted (stored, it would stand as the site's latest value until real time caught
    up); ten minutes ahead is within the allowance (FUTURE_SLACK_S)."""
    session, _, committer = make_session()
    beijing = datetime.now(UTC) + timedelta(hours=8)
    ahead = (beijing + timedelta(days=1)).strftime("%Y%m%d%H0000")
    assert run(session, upload(data_time=ahead)) == []
    assert committer.payloads == []
    assert (
        session.metrics.value("shanshui_gateway_frames_rejected_total", reason="future_datatime")
        == 1
    )
    soon = (beijing + timedelta(minutes=5)).strftime("%Y%m%d%H%M%S")
    assert len(run(session, upload(data_time=soon, qn="20160801085857224"))) == 1
    assert len(committer.payloads) == 1


def test_the_latest_data_time_is_beijing_time_ten_minutes_ahead() -> None:
    """The bound is Beijing time (UTC+8, HJ 212-2017 DataTime) plus FUTURE_SLACK_S, to the
    second, and it follows the clock (it is made once a second, not once per process)."""
    from shanshui.ingest import session as session_module

    def beijing_ahead() -> str:
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=8)
        return (now + timedelta(seconds=session_module.FUTURE_SLACK_S)).strftime("%Y%m%d%H%M%S")

    for _ in range(2):
        before = beijing_ahead()
        got = session_module._latest_datatime().decode()
        after = beijing_ahead()
        assert before <= got <= after
        session_module._LATEST[0] = (0, b"19700101081000")  # a text made long ago: not reused


@pytest.mark.parametrize(
    ("cn", "sent", "label"),
    [
        ("2061", "20160801080007", datetime(2016, 8, 1, 0, tzinfo=UTC)),  # 08:00 Beijing
        ("2051", "20160801080530", datetime(2016, 8, 1, 0, 5, tzinfo=UTC)),
        ("2031", "20160801000005", datetime(2016, 7, 31, 16, tzinfo=UTC)),  # 1 Aug, Beijing
        ("2011", "20160801080530", datetime(2016, 8, 1, 0, 5, 30, tzinfo=UTC)),  # an instant
    ],
)
def test_a_data_time_is_stored_at_the_start_of_its_interval(
    cn: str, sent: str, label: datetime
) -> None:
    """HJ 212-2017: the DataTime of minute, hourly and daily data is the start of their
    interval (a Beijing natural day for 2031); a logger stamping its hourly record 08:00:07
    labels the hour 08:00 and is stored there; real-time data (2011) keep their instant."""
    session, _, committer = make_session()
    run(session, upload(cn=cn, data_time=sent))
    (row,) = committer.rows()
    assert row[COLUMNS.index("t")] == int(label.timestamp()) * 1_000_000  # t: time [µs UTC]
