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

from fakes import Committer, Directory
from shanshui.hj212 import Decoder, FrameError, Message, encode, frame_segment
from shanshui.hj212.errors import EncodeError
from shanshui.hj212.replies import hourly, set_time
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.session import Session

BEIJING = ZoneInfo("Asia/Shanghai")


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
    committer = Committer()
    session = Session("p", Directory(), committer, GatewayMetrics())
    answer, setting = _messages(asyncio.run(session.handle(frame_segment(segment))))
    assert (answer.cn, answer.qn) == ("9013", "20160801085857223")
    assert (setting.cn, setting.st, setting.mn, setting.pw) == (
        "1012", "31", "010000A8900016F000169DC0", "123456",
    )  # fmt: skip
    assert setting.flag == 5  # 2017 edition bits, A = 1: the device answers 9011/9012
    assert setting.fields["PolId"] == "a21026"
    _near_now(str(setting.fields["SystemTime"]))
    assert len(committer.payloads) == 1  # the request itself is kept (a device event)


def _v65(shared: Path) -> bytes:
    vectors = {
        v["id"]: v
        for v in map(
            json.loads, (shared / "reference/hj212/vectors.jsonl").read_text().splitlines()
        )
    }
    return str(vectors["v65"]["frame"]).encode() + b"\r\n"  # 2005, ST=91, QN inside CP


def _upload_2005(st: str = "22") -> bytes:
    """A 2005 hourly upload of v65's logger (no QN, no Flag: not answered), an hour ago."""
    when = datetime.now(BEIJING).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    msg = hourly(
        st=st, mn="LD130102000147", pw="123456", data_time=when - timedelta(hours=1),
        items={"a34004": {"Avg": "35"}}, version="2005",
    )  # fmt: skip
    return encode(msg)


def test_a_2005_logger_s_request_gets_its_9013_then_a_setting_with_the_station_s_st(
    shared: Path,
) -> None:
    """v65 asks with ST=91 and its QN inside CP (a real 2005 logger). Its 9013 is in the 2005
    layout with that QN inside CP (HJ/T 212-2005 answers: ``ST=91;CN=…;PW;MN;CP=&&QN=…&&``,
    as its 9012 in vector v19). The 1012 is a request, not an answer: HJ 212-2017 Table 5
    keeps ST=91 for the answers (系统交互), and the standards write the platform's requests
    with the station's system code (v17, v22: ST=32), so it waits for the logger's first
    frame naming its ST (here its hourly upload, ST=22 air) and carries that."""
    committer = Committer()
    session = Session("p", Directory(), committer, GatewayMetrics())
    (answer,) = _messages(asyncio.run(session.handle(_v65(shared))))
    assert answer.segment() == (
        "ST=91;CN=9013;PW=123456;MN=LD130102000147;CP=&&QN=20160824001252000&&"
    )
    (setting,) = _messages(asyncio.run(session.handle(_upload_2005())))
    assert (setting.cn, setting.st, setting.mn, setting.version) == (
        "1012", "22", "LD130102000147", "2005",
    )  # fmt: skip
    assert "PolId" not in setting.fields  # the data logger's own clock
    _near_now(str(setting.fields["SystemTime"]))
    assert _messages(asyncio.run(session.handle(_upload_2005()))) == []  # set once


def test_a_clock_request_with_st_91_after_data_is_set_at_once(shared: Path) -> None:
    session = Session("p", Directory(), Committer(), GatewayMetrics())
    assert asyncio.run(session.handle(_upload_2005("31"))) == []
    answer, setting = _messages(asyncio.run(session.handle(_v65(shared))))
    assert (answer.cn, answer.st) == ("9013", "91")
    assert (setting.cn, setting.st) == ("1012", "31")  # the station's ST, not 91


def test_set_time_writes_beijing_time() -> None:
    when = datetime(2026, 3, 1, 4, 5, 6, tzinfo=ZoneInfo("UTC"))  # 12:05:06 in Beijing
    msg = set_time(st="22", pw="123456", mn="MN1", now=when, qn="20260301120506000")
    assert msg.segment() == (
        "QN=20260301120506000;ST=22;CN=1012;PW=123456;MN=MN1;Flag=5;"
        "CP=&&SystemTime=20260301120506&&"
    )
    with pytest.raises(EncodeError):  # the caller's fault (shanshui.errors.CallerError)
        set_time(st="22", pw="123456", mn="MN1", now=when, version="1999")
