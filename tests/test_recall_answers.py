"""A history request (补数) is followed to its end from the device's answers.

HJ 212-2017 §6.5: the device answers a request with 9011 (``QnRtn``, Table 7: 1 ready, 2
refused, 3–9 PW/MN/ST/Flag/QN/CN/CRC wrong, 100 unknown), sends the data, then 9012
(``ExeRtn``, Table 8: 1 success, 2 failed, 3 bad condition, 4 timeout, 5 busy, 6 fault, 100
no data); both carry the request's QN (HJ/T 212-2005: inside CP). The device's answers here
are built by the codec's device-side builders (:func:`shanshui.hj212.replies.request_ack`,
:func:`~shanshui.hj212.replies.execution_result`) from the request the gateway sent; the
expected statuses are the standard's codes as :mod:`shanshui.store.recalls` names them
(waiting, sent, accepted, refused, done, no data, failed, unanswered). Sessions run without
sockets over a DuckDB store; the store's notes are checked on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fakes import Committer
from shanshui.hj212 import Decoder, FrameError, Message, encode
from shanshui.hj212.replies import execution_result, request_ack
from shanshui.ingest.gateway import DeviceRegistry
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.recalls import ANSWER_TIMEOUT, MAX_ATTEMPTS
from shanshui.ingest.session import Session
from shanshui.ingest.simulate import hourly_frame
from shanshui.store import (
    AIR_PARAMETERS,
    Device,
    Region,
    Site,
    Store,
    hash_password,
    open_store,
)
from shanshui.store.recalls import Recall, recall_status

pytest_plugins = ["pg"]

MN = "010000A8900016F000169DC0"
PW = "123456"
SITE = "1001A"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _recall(mn: str = MN, hours: int = 6) -> Recall:
    return Recall(mn, "2061", T0 - timedelta(hours=hours), T0, T0, "apikey:op", "gap")


def _registered(store: Store) -> None:
    store.upsert_regions([Region("110000", "北京市", "municipality", None, "Beijing")])
    store.upsert_parameters(AIR_PARAMETERS)
    store.upsert_sites([Site(SITE, "万寿西宫", "air", "110000", 116.3621, 39.8784)])
    store.upsert_devices(
        [Device(MN, "active", hash_password(PW, n=2**10), "2017", SITE)], actor="t", reason="t"
    )


class Clock:
    """The registry's clock, moved by hand (no sleeps)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    store: Store
    registry: DeviceRegistry
    clock: Clock
    metrics: GatewayMetrics

    def session(self, committer: object | None = None) -> Session:
        return Session("127.0.0.1:9", self.registry, committer or Committer(), self.metrics)  # type: ignore[arg-type]

    @classmethod
    def on(cls, store: Store) -> Rig:
        """A rig on ``store`` with the registered device and its one waiting request."""
        _registered(store)
        store.request_recalls([_recall()])  # type: ignore[attr-defined]
        clock = Clock()
        registry = DeviceRegistry(store, clock=clock, refresh_every=1e9)
        registry.refresh()
        return cls(store, registry, clock, GatewayMetrics())

    def flush(self) -> None:
        self.registry.flush(every=0.0)

    def mine(self) -> Recall:
        (found,) = self.store.device_recalls(MN)  # type: ignore[attr-defined]
        return found  # type: ignore[no-any-return]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    store = open_store(tmp_path / "s.duckdb")
    try:
        yield Rig.on(store)
    finally:
        store.close()


def _messages(frames: list[bytes]) -> list[Message]:
    out = []
    for event in Decoder().feed(b"".join(frames)):
        assert not isinstance(event, FrameError), event
        out.append(event.message)
    return out


UPLOAD = hourly_frame(MN, PW, datetime(2026, 3, 1, 19, 0), {"PM2.5": 35.0}).data


def _ask(session: Session) -> Message:
    """The device uploads an hour; the gateway's 2061 request that follows its 9014."""
    out = _messages(asyncio.run(session.handle(UPLOAD)))
    assert [m.cn for m in out] == ["9014", "2061"]
    return out[1]


def _answer(session: Session, *answers: Message) -> list[bytes]:
    return asyncio.run(session.handle(b"".join(encode(a) for a in answers)))


# -- each status, session by session ----------------------------------------------------------
def test_a_request_not_sent_is_waiting_then_sent_with_its_qn(rig: Rig) -> None:
    assert recall_status(rig.mine())[0] == "waiting"
    request = _ask(rig.session())
    rig.flush()
    got = rig.mine()
    assert (got.status, got.qn, got.attempts, got.sent) == ("sent", request.qn, 1, T0)
    assert got.qn is not None and len(got.qn) == 17  # YYYYMMDDhhmmsszzz (HJ 212-2017 Table 4)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        # (QnRtn, ExeRtn) → HJ 212-2017 Table 7 / Table 8, as codes.py names them
        ((1, None), ("accepted", 1, "ready to execute")),
        ((2, None), ("refused", 2, "refused")),
        ((3, None), ("refused", 3, "wrong PW")),
        ((1, 1), ("done", 1, "success")),
        ((1, 100), ("no data", 100, "no data")),
        ((1, 6), ("failed", 6, "fault")),
        ((1, 3), ("failed", 3, "bad command condition")),
    ],
)
def test_the_device_s_answers_decide_the_status(
    rig: Rig, codes: tuple[int, int | None], expected: tuple[str, int, str]
) -> None:
    qn_rtn, exe_rtn = codes
    session = rig.session()
    request = _ask(session)
    rig.clock.now = T0 + timedelta(seconds=2)
    answers = [request_ack(request, qn_rtn)]
    if exe_rtn is not None:
        answers.append(execution_result(request, exe_rtn))
    assert _answer(session, *answers) == []  # answers are never answered
    rig.flush()
    got = rig.mine()
    assert recall_status(got) == expected
    assert (got.qn_rtn, got.answered) == (qn_rtn, T0 + timedelta(seconds=2))
    assert got.exe_rtn == exe_rtn
    assert (got.executed is None) == (exe_rtn is None)
    assert rig.registry.unmatched_answers == 0
    # final: nothing is asked again on the next upload
    assert [m.cn for m in _messages(asyncio.run(session.handle(UPLOAD)))] == ["9014"]


@pytest.mark.parametrize(
    ("qn_rtn", "exe_rtn"),
    [(9, None), (1, 5), (1, 4), (1, 2)],  # CRC wrong; busy, timeout, failed (CHOICES)
)
def test_a_code_worth_another_try_asks_again_with_a_new_qn(
    rig: Rig, qn_rtn: int, exe_rtn: int | None
) -> None:
    session = rig.session()
    first = _ask(session)
    answers = [request_ack(first, qn_rtn)]
    if exe_rtn is not None:
        answers.append(execution_result(first, exe_rtn))
    _answer(session, *answers)
    rig.flush()
    assert (rig.mine().status, rig.mine().attempts) == ("waiting", 1)
    rig.clock.now = T0 + timedelta(seconds=1)
    second = _ask(session)
    assert second.qn != first.qn
    _answer(session, request_ack(second, 1), execution_result(second, 1))
    rig.flush()
    got = rig.mine()
    assert (got.status, got.attempts, got.qn) == ("done", 2, second.qn)


def test_a_busy_device_is_asked_at_most_max_attempts_times(rig: Rig) -> None:
    session = rig.session()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        rig.clock.now = T0 + timedelta(seconds=attempt)
        request = _ask(session)
        _answer(session, request_ack(request, 1), execution_result(request, 5))
        rig.flush()
    got = rig.mine()
    # the last answer stays: failed, 5 busy (HJ 212-2017 Table 8), and no more requests
    assert (got.status, got.attempts, got.exe_rtn) == ("failed", MAX_ATTEMPTS, 5)
    assert got.gave_up is not None
    assert [m.cn for m in _messages(asyncio.run(session.handle(UPLOAD)))] == ["9014"]


def test_a_2005_device_s_answers_carry_the_qn_inside_cp(tmp_path: Path) -> None:
    """HJ/T 212-2005 Appendix C: ``ST=91;CN=9011;PW;MN;Flag=0;CP=&&QN=…;QnRtn=1&&`` (v18)
    and ``ST=91;CN=9012;PW;MN;CP=&&QN=…;ExeRtn=1&&`` (v19)."""
    store = open_store(tmp_path / "s.duckdb")
    try:
        _registered(store)
        store.request_recalls([_recall()])  # type: ignore[attr-defined]
        registry = DeviceRegistry(store, refresh_every=1e9)
        registry.refresh()
        session = Session("p", registry, Committer(), GatewayMetrics())
        upload = hourly_frame(MN, PW, datetime(2026, 3, 1, 19, 0), {"PM2.5": 35.0}, flag=0)
        (request,) = _messages(asyncio.run(session.handle(upload.data)))
        assert (request.cn, request.version, request.flag) == ("2061", "2005", 3)
        ack, done = request_ack(request, 1), execution_result(request, 1)
        assert ack.qn is None and ack.fields["QN"] == request.qn  # the 2005 layout
        _answer(session, ack, done)
        registry.flush(every=0.0)
        (got,) = store.device_recalls(MN)  # type: ignore[attr-defined]
        assert (got.status, got.qn_rtn, got.exe_rtn) == ("done", 1, 1)
    finally:
        store.close()


def test_an_answer_that_matches_nothing_is_counted_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    session = rig.session()
    request = _ask(session)
    stranger = request.replace(qn="20260301120000999")
    caplog.set_level(logging.INFO, logger="shanshui")
    _answer(session, request_ack(stranger, 2), execution_result(stranger, 6))
    _answer(session, request_ack(stranger, 2))
    assert rig.registry.unmatched_answers == 3
    assert [r.getMessage() for r in caplog.records].count("unmatched_answer") == 1
    rig.flush()
    assert rig.mine().status == "sent"  # nothing changed
    # a device answering another's QN is not matched either
    other = request.replace(mn="OTHER")
    _answer(session, request_ack(other, 2))
    rig.flush()
    assert rig.mine().status == "sent"


def test_random_qns_and_silence_leave_the_registry_s_memory_bounded(rig: Rig) -> None:
    session = rig.session()
    request = _ask(session)
    chunk = b"".join(
        encode(request_ack(request.replace(qn=f"2026030112{i:07d}"), 2)) for i in range(2000)
    )
    asyncio.run(session.handle(chunk))
    assert rig.registry.unmatched_answers == 2000
    assert len(rig.registry._notes) == 1  # only the "asked" note
    rig.flush()
    assert rig.registry._notes == [] and rig.registry._unwritten == {}
    # never answered: forgotten after the answer timeout (the store asks it again)
    rig.clock.now = T0 + ANSWER_TIMEOUT + timedelta(seconds=1)
    rig.registry.refresh()
    assert rig.registry._asked == {}


# -- asking again: a closed connection, the timeout (the registry, clock injected) ------------
def test_a_closed_connection_before_the_9011_asks_again_at_once(rig: Rig) -> None:
    session = rig.session()
    first = _ask(session)
    session.ended()  # the device left before answering
    assert [r.key for r in rig.registry.recalls[MN]] == [_recall().key]  # waiting again now
    rig.flush()
    assert (rig.mine().status, rig.mine().attempts) == ("waiting", 1)
    rig.clock.now = T0 + timedelta(seconds=5)
    again = rig.session()
    second = _ask(again)
    assert second.qn != first.qn
    _answer(again, request_ack(first, 1))  # the first attempt's QN: no longer awaited
    assert rig.registry.unmatched_answers == 1
    _answer(again, request_ack(second, 1), execution_result(second, 100))
    again.ended()  # done: nothing is asked again
    rig.flush()
    got = rig.mine()
    assert (got.status, got.attempts, got.exe_rtn) == ("no data", 2, 100)
    assert MN not in rig.registry.recalls


def test_an_unanswered_request_is_asked_again_after_the_timeout_then_given_up(rig: Rig) -> None:
    session = rig.session()
    qns = set()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        sent_at = rig.clock.now
        qns.add(_ask(session).qn)
        rig.flush()
        assert (rig.mine().status, rig.mine().attempts) == ("sent", attempt)
        rig.clock.now = sent_at + ANSWER_TIMEOUT - timedelta(seconds=1)
        rig.registry.refresh()  # not yet
        assert rig.mine().status == "sent"
        assert [m.cn for m in _messages(asyncio.run(session.handle(UPLOAD)))] == ["9014"]
        rig.clock.now = sent_at + ANSWER_TIMEOUT + timedelta(seconds=1)
        rig.registry.refresh()
    got = rig.mine()
    assert (got.status, got.attempts) == ("unanswered", MAX_ATTEMPTS)
    assert got.gave_up == rig.clock.now
    assert len(qns) == MAX_ATTEMPTS  # a new QN each time
    assert [m.cn for m in _messages(asyncio.run(session.handle(UPLOAD)))] == ["9014"]
    # an operator asking again starts afresh
    rig.store.request_recalls([_recall()])  # type: ignore[attr-defined]
    assert (rig.mine().status, rig.mine().attempts, rig.mine().gave_up) == ("waiting", 0, None)


def test_a_gateway_that_restarted_asks_again_what_it_had_sent(rig: Rig) -> None:
    _ask(rig.session())
    rig.flush()
    later = DeviceRegistry(rig.store, clock=rig.clock, refresh_every=1e9)
    rig.clock.now = T0 + ANSWER_TIMEOUT + timedelta(minutes=1)
    later.refresh()
    assert [r.key for r in later.recalls[MN]] == [_recall().key]
    assert rig.mine().status == "waiting"


# -- the store's notes, on DuckDB and PostgreSQL ----------------------------------------------
def _p(recall: Recall, qn: str, **extra: object) -> dict[str, object]:
    mn, cn, begin, end = recall.key
    retry = {"retry_qn_rtn": ",9,", "retry_exe_rtn": ",2,4,5,"}  # RETRY_QN_RTN, RETRY_EXE_RTN
    return {"mn": mn, "cn": cn, "begin_time": begin, "end_time": end, "qn": qn, **retry, **extra}


def test_the_store_keeps_the_answers_of_each_attempt(store: Store) -> None:
    r, other = _recall(), _recall(mn="OTHER")
    s = store  # the RecallStore mixin's methods are not on the Store ABC
    s.request_recalls([r, other])  # type: ignore[attr-defined]
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    notes = [
        ("asked", _p(r, "Q1", at=t1)),
        ("asked", _p(other, "Q9", at=t1)),
        ("answered", _p(r, "Q1", at=t2, code=1)),
        ("answered", _p(r, "Q1", at=t3, code=2)),  # the first answer is kept
        ("executed", _p(r, "Q1", at=t3, code=5)),
        ("executed", _p(r, "OTHERQN", at=t3, code=1)),  # the first result is kept
    ]
    assert s.recall_notes(notes) == 4  # type: ignore[attr-defined]
    mine = {x.mn: x for x in s.device_recalls(MN) + s.device_recalls("OTHER")}  # type: ignore[attr-defined]
    got = mine[MN]
    assert (got.qn, got.attempts, got.sent, got.answered, got.qn_rtn) == ("Q1", 1, t1, t2, 1)
    assert (got.executed, got.exe_rtn, got.status) == (t3, 5, "failed")
    assert mine["OTHER"].status == "sent"
    # ask again, then a second attempt clears the first one's answers
    assert s.recall_notes([("again", _p(r, "Q1"))]) == 1  # type: ignore[attr-defined]
    assert [x.mn for x in s.waiting_recalls()] == [MN]  # type: ignore[attr-defined]
    s.recall_notes([("asked", _p(r, "Q2", at=t3))])  # type: ignore[attr-defined]
    (got,) = s.device_recalls(MN)  # type: ignore[attr-defined]
    assert (got.qn, got.attempts, got.qn_rtn, got.exe_rtn, got.status) == (
        "Q2", 2, None, None, "sent",
    )  # fmt: skip
    # overdue: OTHER (sent at t1, no 9011) waits again; given up once out of attempts
    assert s.recalls_overdue(t2, max_attempts=3, at=t3) == 1  # type: ignore[attr-defined]
    assert [x.mn for x in s.waiting_recalls()] == ["OTHER"]  # type: ignore[attr-defined]
    assert s.recalls_overdue(T0 + timedelta(hours=1), max_attempts=2, at=t3) == 1  # type: ignore[attr-defined]
    (got,) = s.device_recalls(MN)  # type: ignore[attr-defined]
    assert (got.status, got.gave_up) == ("unanswered", t3)
    assert s.waiting_recalls()[0].mn == "OTHER"  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="unknown history-request note"):
        s.recall_notes([("drop", _p(r, "Q2"))])  # type: ignore[attr-defined]
