"""A device that asks for clock calibration gets its clock set.

HJ 212-2017 Table C.1: 1013 现场机时间校准请求 (the device asks), answered with 9013 (a
notice's answer, reference notes ``shared/reference/hj212/README.md``), and 1012 设置现场机时间
with ``SystemTime=YYYYMMDDhhmmss`` in CP (the platform sets it; ``PolId`` names the instrument
whose clock it is). DataTime and SystemTime are Beijing time (UTC+8).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shanshui.hj212 import Decoder, FrameError, Message, frame_segment
from shanshui.hj212.errors import EncodeError
from shanshui.hj212.replies import set_time
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.session import DeviceEntry, Session

BEIJING = ZoneInfo("Asia/Shanghai")


class _Directory:
    def __init__(self) -> None:
        self.recalls: dict[str, list[object]] = {}

    def lookup(self, mn: str) -> DeviceEntry | None:
        return DeviceEntry(mn, "active", "h", "1001A")

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        return password == "123456"

    async def verify(self, device: DeviceEntry, password: str) -> bool:
        return password == "123456"

    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None:
        pass

    def note_refused(self, mn: str, peer: str) -> None:
        pass

    def note_seen(self, mn: str, peer: str) -> None:
        pass


class _Committer:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def commit(self, payloads: list[bytes]) -> None:
        self.payloads += payloads


def _messages(data: list[bytes]) -> list[Message]:
    out = []
    for event in Decoder().feed(b"".join(data)):
        assert not isinstance(event, FrameError), event
        out.append(event.message)
    return out


def _near_now(system_time: str) -> None:
    sent = datetime.strptime(system_time, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    assert abs(sent - datetime.now(BEIJING)) < timedelta(seconds=30)


def test_a_2017_clock_request_is_answered_then_the_clock_set() -> None:
    segment = (
        b"QN=20160801085857223;ST=31;CN=1013;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
        b"CP=&&PolId=a21026&&"
    )
    committer = _Committer()
    session = Session("p", _Directory(), committer, GatewayMetrics())
    answer, setting = _messages(asyncio.run(session.handle(frame_segment(segment))))
    assert (answer.cn, answer.qn) == ("9013", "20160801085857223")
    assert (setting.cn, setting.st, setting.mn, setting.pw) == (
        "1012", "31", "010000A8900016F000169DC0", "123456",
    )  # fmt: skip
    assert setting.flag == 5  # 2017 edition bits, A = 1: the device answers 9011/9012
    assert setting.fields["PolId"] == "a21026"
    _near_now(str(setting.fields["SystemTime"]))
    assert len(committer.payloads) == 1  # the request itself is kept (a device event)


def test_a_2005_logger_s_request_gets_a_2005_setting(shared: Path) -> None:
    vectors = {
        v["id"]: v
        for v in map(
            json.loads, (shared / "reference/hj212/vectors.jsonl").read_text().splitlines()
        )
    }
    frame = str(vectors["v65"]["frame"]).encode() + b"\r\n"  # 2005, ST=91, QN inside CP
    session = Session("p", _Directory(), _Committer(), GatewayMetrics())
    (setting,) = _messages(asyncio.run(session.handle(frame)))
    assert (setting.cn, setting.mn, setting.version) == ("1012", "LD130102000147", "2005")
    assert "PolId" not in setting.fields  # the data logger's own clock
    _near_now(str(setting.fields["SystemTime"]))


def test_set_time_writes_beijing_time() -> None:
    when = datetime(2026, 3, 1, 4, 5, 6, tzinfo=ZoneInfo("UTC"))  # 12:05:06 in Beijing
    msg = set_time(st="22", pw="123456", mn="MN1", now=when, qn="20260301120506000")
    assert msg.segment() == (
        "QN=20260301120506000;ST=22;CN=1012;PW=123456;MN=MN1;Flag=5;"
        "CP=&&SystemTime=20260301120506&&"
    )
    with pytest.raises(EncodeError):  # the caller's fault (shanshui.errors.CallerError)
        set_time(st="22", pw="123456", mn="MN1", now=when, version="1999")
