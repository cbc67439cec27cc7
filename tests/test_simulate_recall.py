"""History requests (补数) answered by the simulated data logger (``shanshui.ingest.simulate``).

A tiny asyncio TCP server in the test plays the platform (HJ 212-2017 §6.5, Table C.1): it
acknowledges the device's uploads with 9014, sends a 2061 request for a past range
(:func:`shanshui.hj212.replies.history_request`) and records what comes back: 9011
``QnRtn=1``, the hours of the range, each acknowledged, then 9012 ``ExeRtn=1``, both answers
echoing the request's QN.

Reference values: the PRSA file ``shared/data/beijing_multisite/PRSA_Data_Aotizhongxin_…csv``
read here with the csv module, never through the simulator or shanshui.formats. Its hour h is
taken as the mean over (h−1, h] (the dataset's README: CNEMC's convention), so it is the
hour starting at h−1 that HJ 212 labels (DESIGN §4: DataTime = start of the interval); CO is
in µg/m³ there (README) and sent in mg/m³; ``wd``'s 16-point sector is sent as its central
bearing [°] (N 0, NNE 22.5, …).
"""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shanshui.hj212 import CST, Decoder, Frame, Message, data_ack, encode
from shanshui.hj212.replies import history_request
from shanshui.ingest.simulate import (
    ReplayStats,
    SimDevice,
    devices_from_table,
    load_table,
    replay,
    synthetic_devices,
)

PRSA = "PRSA_Data_Aotizhongxin_20130301-20170228.csv"
START = datetime(2014, 3, 1, tzinfo=CST)
HOURS = 48
#: The past range the platform asks for: 05:00..10:00 on the first day (hour starts).
BEGIN, END = datetime(2014, 3, 1, 5), datetime(2014, 3, 1, 10)
#: PRSA column → what the device sends: HJ 212-2017 Appendix B codes where the standard has
#: one (README "Codes"), the column name otherwise; and the factor to the unit sent.
COLUMNS = {
    "PM2.5": ("a34004", 1.0),
    "PM10": ("a34002", 1.0),
    "SO2": ("a21026", 1.0),
    "NO2": ("a21004", 1.0),
    "CO": ("a21005", 1e-3),  # µg/m³ in the file → mg/m³
    "O3": ("a05024", 1.0),
    "TEMP": ("a01001", 1.0),
    "PRES": ("PRES", 1.0),
    "DEWP": ("DEWP", 1.0),
    "RAIN": ("RAIN", 1.0),
    "WSPM": ("a01007", 1.0),
}
COMPASS = "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()  # noqa: SIM905


def prsa_hours(path: Path, begin: datetime, end: datetime) -> dict[datetime, dict[str, float]]:
    """``{hour start (naive Beijing): {code: value}}`` for begin <= hour start <= end, from
    the PRSA file itself (module docstring: conventions)."""
    out: dict[datetime, dict[str, float]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            end_of_hour = datetime(int(row["year"]), int(row["month"]), int(row["day"]))
            start = end_of_hour + timedelta(hours=int(row["hour"]) - 1)
            if not begin <= start <= end:
                continue
            values = {
                code: float(row[col]) * factor
                for col, (code, factor) in COLUMNS.items()
                if row[col] != "NA"
            }
            if row["wd"] != "NA":
                values["a01008"] = COMPASS.index(row["wd"]) * 22.5
            if values:
                out[start] = values
    return out


@dataclass
class Platform:
    """Acknowledges every upload (9014, HJ 212-2017 Table C.24) except the first copy of
    ``withhold`` that comes after the requests; after the ``ask_after``-th upload writes
    ``requests``. ``log`` keeps what came and went in order: ("in", message), ("ack", QN)
    and ("asked", None)."""

    requests: list[Message]
    ask_after: int
    withhold: str | None = None
    #: close the connection on the first upload that comes after the requests
    drop: bool = False
    log: list[tuple[str, object]] = field(default_factory=list)
    withheld: int = 0
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = Decoder()
        self.connections += 1
        uploads = 0
        asked = any(kind == "asked" for kind, _ in self.log)
        while data := await reader.read(65536):
            for event in decoder.feed(data):
                assert isinstance(event, Frame), event
                message = event.message
                self.log.append(("in", message))
                if message.cn in {"9011", "9012"}:
                    continue
                uploads += 1
                if asked and self.drop:
                    self.drop = False
                    writer.close()
                    return
                if asked and message.qn == self.withhold and not self.withheld:
                    self.withheld += 1  # a lost answer: the device must resend
                else:
                    writer.write(encode(data_ack(message)))
                    self.log.append(("ack", message.qn))
                if uploads == self.ask_after:
                    writer.write(b"".join(encode(r) for r in self.requests))
                    self.log.append(("asked", None))
                    asked = True
        writer.close()

    def received(self) -> list[Message]:
        return [m for kind, m in self.log if kind == "in" and isinstance(m, Message)]


def run(
    devices: list[SimDevice],
    platform: Platform,
    *,
    window: int = 4,
    linger: float = 0.0,
    ack_timeout: float = 0.3,
) -> ReplayStats:
    async def scenario() -> ReplayStats:
        tcp = await asyncio.start_server(platform.handle, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        try:
            return await replay(
                devices, "127.0.0.1", port, window=window, ack_timeout=ack_timeout, max_seconds=20,
                linger=linger,
            )  # fmt: skip
        finally:
            tcp.close()

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def prsa_device(shared: Path) -> SimDevice:
    path = shared / "data" / "beijing_multisite" / PRSA
    table = load_table([path], start=START, end=START + timedelta(hours=HOURS))
    (device,) = devices_from_table(table)
    return device


def test_history_request_is_answered_with_the_hours_of_the_range(
    shared: Path, prsa_device: SimDevice
) -> None:
    expected = prsa_hours(shared / "data" / "beijing_multisite" / PRSA, BEGIN, END)
    assert sorted(expected) == [BEGIN + timedelta(hours=h) for h in range(6)]
    request = history_request(
        cn="2061", st="22", pw=prsa_device.password, mn=prsa_device.mn, begin=BEGIN, end=END,
        qn="20140302080000123",
    )  # fmt: skip
    withhold = "20140301070000000"  # the 07:00 hour's QN (its DataTime + 000)
    platform = Platform([request], ask_after=24, withhold=withhold)
    stats = run([prsa_device], platform)

    received = platform.received()
    asked = platform.log.index(("asked", None))
    after = [m for kind, m in platform.log[asked:] if kind == "in" and isinstance(m, Message)]
    # 9011 QnRtn=1 echoing the request's QN, PW and MN (HJ 212-2017 Table C.1, Table 7)
    answers = [m for m in received if m.cn == "9011"]
    assert len(answers) == 1
    (ready,) = answers
    assert (ready.qn, ready.st, ready.pw, ready.mn, ready.flag) == (
        request.qn, "91", request.pw, request.mn, 4,
    )  # fmt: skip
    assert ready.fields == {"QnRtn": "1"}
    # the history: after the 9011, 2061 uploads of exactly the range's hours, own QNs, A=1
    history = [
        m for m in after[after.index(ready) :]
        if m.cn == "2061" and m.data_time is not None and BEGIN <= m.data_time <= END
    ]  # fmt: skip
    first_copies = {m.qn: m for m in history}
    assert sorted(m.data_time for m in first_copies.values()) == sorted(expected)
    for m in first_copies.values():
        assert m.flag == 5 and m.ack_required and m.qn != request.qn
        assert m.qn == f"{m.data_time:%Y%m%d%H%M%S}000"
        assert m.mn == prsa_device.mn and m.pw == prsa_device.password
        assert m.data_time is not None
        got = {code: m.number(code, "Avg") for code in m.items}
        assert got == pytest.approx(expected[m.data_time], rel=1e-12, abs=1e-12)
    # acks honoured: only the hour whose first 9014 was withheld comes twice
    counts = {qn: sum(1 for m in history if m.qn == qn) for qn in first_copies}
    assert counts.pop(withhold) == 2 and set(counts.values()) == {1}
    assert platform.withheld == 1
    # 9012 ExeRtn=1 echoing the QN, after the last history frame was acknowledged
    done = [m for m in received if m.cn == "9012"]
    assert len(done) == 1 and done[0].qn == request.qn and done[0].fields == {"ExeRtn": "1"}
    last_ack = max(i for i, e in enumerate(platform.log) if e == ("ack", withhold))
    assert platform.log.index(("in", done[0])) > last_ack
    # the replay itself went on: every hour of the dataset stored once, counted once
    assert {m.qn for m in received if m.cn == "2061"} == {f.qn for f in prsa_device.frames}
    assert stats.frames == stats.acked == len(prsa_device.frames) == HOURS
    assert (stats.requests, stats.recalled, stats.ignored) == (1, 6, 0)


def test_requests_for_no_data_bad_times_and_strangers() -> None:
    (device,) = synthetic_devices(1, 6, start=datetime(2024, 1, 1, tzinfo=CST))
    day = datetime(2024, 1, 1)
    common = {"st": "22", "begin": day, "end": day + timedelta(hours=23)}
    minute = history_request(
        cn="2051", pw=device.password, mn=device.mn, qn="20240102000000001", **common
    )
    future = history_request(
        cn="2061", pw=device.password, mn=device.mn, qn="20240102000000002",
        st="22", begin=day + timedelta(days=1), end=day + timedelta(days=2),
    )  # fmt: skip
    reversed_ = Message.build(
        qn="20240102000000003", st="22", cn="2061", pw=device.password, mn=device.mn, flag=5,
        fields={"BeginTime": "20240101050000", "EndTime": "20240101040000"},
    )  # fmt: skip
    wrong_pw = history_request(
        cn="2061", pw="000000" if device.password != "000000" else "111111", mn=device.mn,
        qn="20240102000000004", **common,
    )  # fmt: skip
    wrong_mn = history_request(
        cn="2061", pw=device.password, mn="0" * 24, qn="20240102000000005", **common
    )
    platform = Platform([minute, future, reversed_, wrong_pw, wrong_mn], ask_after=6)
    # the device lingers after its last 9014 to hear the requests sent then
    stats = run([device], platform, linger=0.5)
    received = platform.received()
    by_qn: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for m in received:
        if m.cn in {"9011", "9012"}:
            by_qn.setdefault(str(m.qn), []).append((m.cn, dict(m.fields)))
    # HJ 212-2017 Table 8: ExeRtn 100 no data, 3 the request's condition is wrong
    assert by_qn == {
        "20240102000000001": [("9011", {"QnRtn": "1"}), ("9012", {"ExeRtn": "100"})],
        "20240102000000002": [("9011", {"QnRtn": "1"}), ("9012", {"ExeRtn": "100"})],
        "20240102000000003": [("9011", {"QnRtn": "1"}), ("9012", {"ExeRtn": "3"})],
    }
    assert sum(1 for m in received if m.cn == "2061") == 6  # nothing uploaded again
    assert (stats.requests, stats.recalled, stats.ignored) == (3, 0, 2)
    assert stats.acked == stats.frames == 6


def test_2005_request_is_answered_in_the_2005_layout() -> None:
    (device,) = synthetic_devices(1, 4, start=datetime(2024, 1, 1, tzinfo=CST))
    request = history_request(
        cn="2061", st="22", pw=device.password, mn=device.mn, begin=datetime(2024, 1, 1, 1),
        end=datetime(2024, 1, 1, 2), version="2005", qn="20240101050000000",
    )  # fmt: skip
    platform = Platform([request], ask_after=4)
    stats = run([device], platform, linger=0.5)
    received = platform.received()
    answers = [m for m in received if m.cn in {"9011", "9012"}]
    # HJ/T 212-2005 Appendix C (vectors v18, v19): no QN in the header, QN first in CP
    assert [(m.cn, m.qn, m.flag, dict(m.fields)) for m in answers] == [
        ("9011", None, 0, {"QN": request.qn, "QnRtn": "1"}),
        ("9012", None, None, {"QN": request.qn, "ExeRtn": "1"}),
    ]
    start = received.index(answers[0])
    end = received.index(answers[1])
    recalled = sorted(m.data_time for m in received[start:end] if m.cn == "2061")
    assert recalled == [datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2)]
    assert (stats.requests, stats.recalled, stats.acked) == (1, 2, 4)


def test_history_ahead_of_the_replay_is_not_sent_twice() -> None:
    # The platform asks for all 12 hours after the 2nd upload: the hours the replay has not
    # sent yet go out as history (A=1, acknowledged) and the replay skips them.
    (device,) = synthetic_devices(1, 12, start=datetime(2024, 1, 1, tzinfo=CST))
    request = history_request(
        cn="2061", st="22", pw=device.password, mn=device.mn, begin=datetime(2024, 1, 1),
        end=datetime(2024, 1, 1, 11), qn="20240101120000000",
    )  # fmt: skip
    platform = Platform([request], ask_after=2)
    stats = run([device], platform, window=2, ack_timeout=5.0)
    uploads = [m for m in platform.received() if m.cn == "2061"]
    counts = {qn: sum(1 for m in uploads if m.qn == qn) for qn in {m.qn for m in uploads}}
    assert set(counts) == {f.qn for f in device.frames}
    assert max(counts.values()) == 2  # the hours acknowledged before the request, again
    assert stats.resent == 0 and len(uploads) == stats.sent + stats.recalled
    assert stats.sent < 12 and 12 <= stats.sent + stats.recalled < 12 + 4
    assert stats.acked == stats.frames == 12
    assert [m.fields for m in platform.received() if m.cn == "9012"] == [{"ExeRtn": "1"}]


def test_history_survives_a_dropped_connection() -> None:
    # The platform drops the connection on the first history frame: the device reconnects,
    # resends what was unacknowledged (HJ 212-2017 §6.5.1) and still ends with 9012.
    (device,) = synthetic_devices(1, 8, start=datetime(2024, 1, 1, tzinfo=CST))
    request = history_request(
        cn="2061", st="22", pw=device.password, mn=device.mn, begin=datetime(2024, 1, 1, 1),
        end=datetime(2024, 1, 1, 3), qn="20240101120000000",
    )  # fmt: skip
    platform = Platform([request], ask_after=6, drop=True)
    stats = run([device], platform)
    received = platform.received()
    asked = platform.log.index(("asked", None))
    after = [m for kind, m in platform.log[asked:] if kind == "in" and isinstance(m, Message)]
    recalled = {m.data_time for m in after if m.cn == "2061" and m.data_time is not None}
    assert {datetime(2024, 1, 1, h) for h in (1, 2, 3)} <= recalled
    assert [m.fields for m in received if m.cn == "9011"] == [{"QnRtn": "1"}]
    assert [m.fields for m in received if m.cn == "9012"] == [{"ExeRtn": "1"}]
    assert platform.connections >= 2 and stats.connects >= 2 and stats.resent >= 1
    assert stats.acked == stats.frames == 8
