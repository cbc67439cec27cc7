"""The six defects review 13a found in following history requests (补数) to their end, each
pinned by a test that failed before its fix (``/work/notes/review13a.md``).

Sources of the expected values: HJ 212-2017 §6.3.2/§6.5 (the QN identifies a request; the
device's 9011/9012 echo it), Table 4 (QN ``YYYYMMDDhhmmsszzz``, 1–20 digits in the codec),
Tables 7 and 8 (QnRtn 1–9, 100; ExeRtn 1–6, 100); DESIGN §5 (bad input changes nothing for
the others; nothing counts as handled before it is durable), DESIGN §6 (several gateways on
one store). The device's answers are built by the codec's device-side builders from the
request the gateway sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from fakes import PASSWORD, AnsweringDirectory, Committer
from shanshui.hj212 import Decoder, FrameError, Message, encode, frame_segment
from shanshui.hj212.replies import execution_result, request_ack
from shanshui.ingest.control import answer_code, next_qn, valid_qn
from shanshui.ingest.gateway import DeviceRegistry, Gateway
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.recalls import ANSWER_TIMEOUT, MAX_ATTEMPTS, recall_json
from shanshui.ingest.session import Session
from shanshui.ingest.simulate import hourly_frame
from shanshui.store import Store, StoreError, open_store
from shanshui.store.recalls import (
    OUT_OF_RANGE,
    OUT_OF_RANGE_MEANING,
    RECALL_STATUSES,
    Recall,
)
from test_recall_answers import MN, PW, T0, UPLOAD, Rig, _recall

pytest_plugins = ["pg"]


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


def _ask(session: Session, before: bytes = b"") -> list[Message]:
    return _messages(asyncio.run(session.handle(before + UPLOAD)))


def _request(out: list[Message]) -> Message:
    return next(m for m in out if m.cn == "2061")


def _send(session: Session, *answers: Message | bytes) -> list[bytes]:
    data = b"".join(a if isinstance(a, bytes) else encode(a) for a in answers)
    return asyncio.run(session.handle(data))


def _answer_9011(request: Message, qn_rtn: str) -> bytes:
    """A 2017 9011 with QnRtn written as given (HJ 212-2017 Table C.22 layout)."""
    return frame_segment(
        f"QN={request.qn};ST=91;CN=9011;PW={PW};MN={MN};Flag=4;CP=&&QnRtn={qn_rtn}&&".encode()
    )


# -- 1: a code too large for the column poisons no flush ---------------------------------------
def test_answer_code_reads_ascii_digits_only_and_bounds_them() -> None:
    # HJ 212-2017 Tables 7/8: codes 1–9 and 100; CHOICE (control.MAX_CODE): up to 3 digits
    assert [answer_code(x) for x in ("1", " 100 ", "009", "999")] == [1, 100, 9, 999]
    assert answer_code("1000") == answer_code("99999999999") == OUT_OF_RANGE == -1
    assert answer_code("9" * 4000) == OUT_OF_RANGE
    for bad in ("²", "①", "１", "-1", "1.0", "", " ", "+1", "1e3", None):
        assert answer_code(bad) is None, bad


def test_an_out_of_range_qn_rtn_is_refused_as_out_of_range_and_flush_goes_on(rig: Rig) -> None:
    session = rig.session()
    request = _request(_ask(session))
    _send(session, _answer_9011(request, "99999999999"))
    rig.registry.note_seen("OTHER00001", "10.0.0.9:5000")
    rig.registry.note_unknown("NEWPENDING01", "10.0.0.8:5000", "2017")
    rig.flush()  # raised StoreError (INT64 into integer) on every flush before the fix
    got = rig.mine()
    assert (got.status, got.qn_rtn) == ("refused", OUT_OF_RANGE)
    shown = recall_json(got)
    assert (shown["code"], shown["meaning"]) == (-1, OUT_OF_RANGE_MEANING)
    assert shown["qn_rtn_meaning"] == OUT_OF_RANGE_MEANING
    assert "NEWPENDING01" in [d.mn for d in rig.store.devices() if d.status == "pending"]


def test_a_note_the_store_refuses_is_dropped_alone_and_the_rest_written(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    other = Recall(MN, "2051", T0 - timedelta(hours=2), T0, T0, "apikey:op", "gap")
    rig.store.request_recalls([other])  # type: ignore[attr-defined]
    rig.registry.refresh()
    session = rig.session()
    requests = [m for m in _ask(session) if m.cn in ("2061", "2051")]
    assert len(requests) == 2
    bad, good = requests
    # a code that does not fit the integer column, as a buggy caller could queue it
    assert rig.registry.recall_answer(MN, str(bad.qn), "9011", 99_999_999_999)
    assert rig.registry.recall_answer(MN, str(good.qn), "9011", 1)
    rig.registry.note_seen(MN, "10.0.0.9:5000")
    with caplog.at_level(logging.ERROR, logger="shanshui.ingest"):
        rig.flush()
    assert rig.registry.dropped_notes == 1
    Gateway(rig.registry, Committer(), rig.metrics)  # type: ignore[arg-type]
    assert rig.metrics.value("shanshui_gateway_recall_notes_dropped_total") == 1
    dropped = [r for r in caplog.records if r.getMessage() == "history-request note dropped"]
    assert len(dropped) == 1 and dropped[0].qn == bad.qn and dropped[0].note == "answered"  # type: ignore[attr-defined]
    by_cn = {r.cn: r for r in rig.store.device_recalls(MN)}  # type: ignore[attr-defined]
    assert by_cn[good.cn].status == "accepted"  # its note went through
    assert by_cn[bad.cn].status == "sent"  # its asked went through, the answer was dropped
    assert next(d for d in rig.store.devices() if d.mn == MN).last_seen is not None
    assert rig.registry._notes == [] and rig.registry._unwritten == {}
    rig.flush()  # nothing stuck: a later flush does not raise either


def test_notes_are_kept_not_dropped_while_the_store_is_down(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DESIGN §4 / issue 4: PostgreSQL stopped for 30 s must lose nothing. A note refused while
    # the store refuses everything (its probe fails too) is the store's trouble, not the note's.
    session = rig.session()
    request = _request(_ask(session))
    _send(session, _answer_9011(request, "1"))

    def down(*_: object, **__: object) -> None:
        raise StoreError("connection refused")

    rig.registry.note_seen(MN, "10.0.0.9:5000")
    with monkeypatch.context() as patch:
        for method in ("recall_notes", "schema_version", "touch_devices"):
            patch.setattr(rig.store, method, down)
        with pytest.raises(StoreError):  # the sightings' write fails too: the writer retries
            rig.flush()
    assert rig.registry.dropped_notes == 0
    assert [name for name, _ in rig.registry._notes] == ["asked", "answered"]
    rig.flush()  # the store is back: both notes are written, in order
    got = rig.mine()
    assert (got.status, got.qn_rtn) == ("accepted", 1)
    assert rig.registry._notes == [] and rig.registry._unwritten == {}


def test_an_interrupted_one_by_one_write_keeps_the_notes_it_did_not_write(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review 14, finding 4: a shutdown (KeyboardInterrupt) during the one-by-one retry lost
    # every note of the flush; the code promises a note stays until the store took it.
    session = rig.session()
    request = _request(_ask(session))
    _send(session, _answer_9011(request, "1"))
    real = rig.store.recall_notes  # type: ignore[attr-defined]
    calls: list[int] = []

    def flaky(notes: list[tuple[str, dict[str, object]]]) -> None:
        calls.append(len(notes))
        if len(notes) > 1:
            raise StoreError("connection reset")  # the batch fails
        if len(calls) == 2:
            return real(notes)  # the first note alone goes through
        raise KeyboardInterrupt  # then the process is stopped

    monkeypatch.setattr(rig.store, "recall_notes", flaky)
    with pytest.raises(KeyboardInterrupt):
        rig.flush()
    assert calls == [2, 1, 1]
    assert [name for name, _ in rig.registry._notes] == ["answered"]  # "asked" was written
    monkeypatch.setattr(rig.store, "recall_notes", real)
    rig.flush()
    got = rig.mine()
    assert (got.status, got.qn_rtn) == ("accepted", 1)
    assert rig.registry._notes == [] and rig.registry._unwritten == {}


def test_notes_are_kept_when_the_store_reads_but_cannot_write(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review 15, finding 2: a full disk (or a lock or statement timeout) refuses every write
    # while reads work; such a refusal is the store's, not the note's, so nothing is dropped
    session = rig.session()
    request = _request(_ask(session))
    _send(session, _answer_9011(request, "1"))

    def full(*_: object, **__: object) -> None:
        try:
            raise duckdb.IOException("No space left on device")
        except duckdb.IOException as exc:
            raise StoreError(f"duckdb store: {exc}") from exc

    with monkeypatch.context() as patch:
        patch.setattr(rig.store, "recall_notes", full)
        rig.flush()
    assert rig.registry.dropped_notes == 0
    assert [name for name, _ in rig.registry._notes] == ["asked", "answered"]
    rig.flush()
    assert (rig.mine().status, rig.mine().qn_rtn) == ("accepted", 1)


def test_an_interrupted_flush_keeps_the_sightings_too(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review 15, finding 4: a shutdown while the notes were written lost the sightings,
    # pending devices and refusal counts taken for that flush
    session = rig.session()
    _ask(session)
    rig.registry.note_seen(MN, "10.0.0.9:5000")
    rig.registry.note_unknown("NEWPENDING02", "10.0.0.8:5000", "2017")

    def stop(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(rig.store, "recall_notes", stop)
        with pytest.raises(KeyboardInterrupt):
            rig.flush()
    rig.flush()
    assert next(d for d in rig.store.devices() if d.mn == MN).last_seen is not None
    assert "NEWPENDING02" in [d.mn for d in rig.store.devices() if d.status == "pending"]


# -- 2: one QN source; the 1012's answers are expected ----------------------------------------
def test_next_qn_never_repeats_in_a_process_even_at_one_instant() -> None:
    now = datetime.now(T0.tzinfo)
    qns = [next_qn(now) for _ in range(2000)] + [next_qn() for _ in range(2000)]
    assert len(set(qns)) == len(qns)
    assert all(len(q) == 17 and valid_qn(q) for q in qns)  # HJ 212-2017 Table 4
    assert qns == sorted(qns)


def test_a_clock_setting_and_a_history_request_get_different_qns(rig: Rig) -> None:
    session = rig.session()
    clock_request = frame_segment(
        f"QN=20260301120000000;ST=22;CN=1013;PW={PW};MN={MN};Flag=5;CP=&&&&".encode()
    )
    out = _ask(session, clock_request)
    setting = next(m for m in out if m.cn == "1012")
    request = _request(out)
    assert setting.qn != request.qn
    # the device sets its clock (9011 QnRtn=1, 9012 ExeRtn=1) and refuses the history request
    _send(session, request_ack(setting, 1), execution_result(setting, 1), request_ack(request, 2))
    rig.flush()
    got = rig.mine()
    assert (got.status, got.qn_rtn, got.exe_rtn) == ("refused", 2, None)
    assert rig.registry.unmatched_answers == 0  # the 1012's answers were expected
    assert rig.metrics._rejected.get("unmatched_answer", 0) == 0


# -- 3: device input never makes the session raise ---------------------------------------------
ODD_QNS = [
    "20160824000504", "abc", "a b", "-1", "1" * 200, "x=y", "&", "é", "２０２６", "日本", "QN", "",
    "12\u00a034",
]  # fmt: skip
ODD_CODES = ["²", "③", "①", "１", "-1", "1.0", "", "99999999999", "9" * 3000, "1;2", "QN=1"]


def test_odd_device_input_gives_frames_or_rejects_never_an_exception() -> None:
    """A 2005 1013/2072 (Flag=1, QN inside CP) with odd QNs and 9011/9012 with odd codes,
    from an authenticated device, with an upload in the same read: the session answers what
    it can, commits the upload, and never raises (the fuzz invariant)."""
    mn = "LD130102000147"
    upload = frame_segment(
        f"QN=20260301120000000;ST=22;CN=2061;PW={PASSWORD};MN={mn};Flag=5;"
        "CP=&&DataTime=20260301110000;a34004-Avg=35&&".encode()
    )
    inputs = [
        f"ST=91;CN={cn};PW={PASSWORD};MN={mn};Flag=1;CP=&&QN={qn}&&"
        for qn in ODD_QNS
        for cn in ("1013", "2072")
    ] + [
        f"QN=20260301120000001;ST=91;CN={cn};PW={PASSWORD};MN={mn};Flag=4;CP=&&{key}={code}&&"
        for code in ODD_CODES
        for cn, key in (("9011", "QnRtn"), ("9012", "ExeRtn"))
    ] + [
        f"ST=91;CN=9012;PW={PASSWORD};MN={mn};CP=&&QN={qn};ExeRtn=1&&" for qn in ODD_QNS
    ]  # fmt: skip
    for text in inputs:
        directory = AnsweringDirectory()
        committer = Committer()
        session = Session("p", directory, committer, GatewayMetrics())
        out = asyncio.run(session.handle(upload + frame_segment(text.encode())))
        for event in Decoder().feed(b"".join(out)):  # whatever is answered decodes
            assert not isinstance(event, FrameError), (text, event)
        assert len(committer.payloads) == 1, text  # the upload is durable and acknowledged
        for _, qn, _, code in directory.answers:  # only echoable QNs, only bounded codes
            assert valid_qn(qn), text
            assert code is None or -1 <= code <= 999, text


def test_a_2005_notice_with_a_proper_qn_inside_cp_still_gets_its_9013() -> None:
    seg = f"ST=91;CN=1013;PW={PASSWORD};MN=LD130102000147;Flag=1;CP=&&QN=20160824000504006&&"
    session = Session("p", AnsweringDirectory(), Committer(), GatewayMetrics())
    (ack,) = _messages(asyncio.run(session.handle(frame_segment(seg.encode()))))
    assert (ack.cn, ack.fields["QN"]) == ("9013", "20160824000504006")  # HJ/T 212-2005: in CP


# -- 4: the 9012 is noted only once its chunk is durable ---------------------------------------
class FailingCommitter(Committer):
    fail = False

    async def commit(self, payloads: list[bytes]) -> None:
        if self.fail:
            raise OSError(5, "journal sync failed (EIO)")
        await super().commit(payloads)


def test_a_9012_whose_chunk_is_not_durable_does_not_end_the_request(rig: Rig) -> None:
    committer = FailingCommitter()
    session = rig.session(committer)
    request = _request(_ask(session))
    _send(session, request_ack(request, 1))
    committer.fail = True
    last_hour = hourly_frame(MN, PW, datetime(2026, 3, 1, 14, 0), {"PM2.5": 80.0}).data
    with pytest.raises(OSError):
        asyncio.run(session.handle(last_hour + encode(execution_result(request, 1))))
    session.ended()  # the gateway's finally: the connection is gone
    rig.flush()
    got = rig.mine()
    assert got.status == "waiting" and got.exe_rtn is None  # asked again, not "done"
    assert MN in rig.registry.recalls


# -- 5: two gateways on one store --------------------------------------------------------------
def test_answers_count_whichever_gateway_sent_the_request(rig: Rig) -> None:
    a = rig.registry
    b = DeviceRegistry(rig.store, clock=rig.clock, refresh_every=1e9)
    b.refresh()
    on_a = Session("a", a, Committer(), GatewayMetrics())
    first = _request(_ask(on_a))
    a.flush(every=0.0)  # A's attempt is in the store; its connection is half-open
    on_b = Session("b", b, Committer(), GatewayMetrics())
    second = _request(_ask(on_b))  # B's cache still had it waiting
    b.flush(every=0.0)
    assert first.qn != second.qn and rig.mine().qn == first.qn
    _send(on_b, request_ack(second, 1), execution_result(second, 1))
    b.flush(every=0.0)
    assert (rig.mine().status, rig.mine().exe_rtn) == ("done", 1)
    on_a.ended()  # A's half-open connection closes late: it must not reopen the request
    a.flush(every=0.0)
    for _ in range(MAX_ATTEMPTS):
        rig.clock.now += ANSWER_TIMEOUT + timedelta(seconds=1)
        a.refresh()
        assert MN not in a.recalls
    assert (rig.mine().status, rig.mine().attempts) == ("done", 1)


# -- 6: statuses that end and say what happened -------------------------------------------------
@pytest.mark.parametrize("qn_rtn", ["1.0", "", "²"])
def test_an_unreadable_9011_asks_again_then_ends_unanswered(rig: Rig, qn_rtn: str) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        session = rig.session()
        request = _request(_ask(session))
        _send(session, _answer_9011(request, qn_rtn))
        rig.flush()
        got = rig.mine()
        assert got.attempts == attempt and got.answered is None
        if attempt < MAX_ATTEMPTS:
            assert got.status == "waiting" and MN in rig.registry.recalls  # not "sent" forever
        rig.clock.now += timedelta(seconds=1)
    assert rig.mine().status == "unanswered"
    assert rig.metrics._rejected.get("unreadable_answer") == MAX_ATTEMPTS


def test_accepted_then_cut_on_every_attempt_ends_incomplete_not_unanswered(rig: Rig) -> None:
    for _ in range(MAX_ATTEMPTS):
        session = rig.session()
        request = _request(_ask(session))
        _send(session, request_ack(request, 1))  # accepted, uploading… the link drops
        session.ended()
        rig.flush()
        rig.clock.now += timedelta(seconds=1)
    got = rig.mine()
    assert (got.attempts, got.qn_rtn, got.status) == (MAX_ATTEMPTS, 1, "incomplete")
    assert "no readable 9011" not in RECALL_STATUSES[got.status]
    assert "QnRtn=1" in RECALL_STATUSES[got.status]


def test_a_graceful_shutdown_gives_the_attempt_back(rig: Rig) -> None:
    async def scenario() -> list[Message]:
        gateway = Gateway(rig.registry, Committer(), GatewayMetrics())  # type: ignore[arg-type]
        port = await gateway.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(UPLOAD)
        await writer.drain()
        got = b""
        while got.count(b"\r\n") < 2:  # the 9014 and the 2061
            got += await asyncio.wait_for(reader.read(65536), 10)
        out = _messages([got])
        writer.write(encode(request_ack(_request(out), 1)))  # accepted, then the restart
        await writer.drain()
        await asyncio.sleep(0.05)
        await gateway.close()
        writer.close()
        return out

    asyncio.run(scenario())
    rig.flush()
    got = rig.mine()
    assert (got.status, got.attempts) == ("waiting", 0)  # the restart spent nothing
    assert [r.attempts for r in rig.registry.recalls[MN]] == [0]


def test_the_store_notes_answers_by_key_and_again_only_while_not_ended(store: Store) -> None:
    """recall_answered/executed match the request's key (any gateway's QN); again, give_up
    and release change nothing once the device ended the request (DuckDB and PostgreSQL)."""
    r = _recall()
    s = store
    s.request_recalls([r])  # type: ignore[attr-defined]
    mn, cn, begin, end = r.key
    retry = {"retry_qn_rtn": ",9,", "retry_exe_rtn": ",2,4,5,"}  # RETRY_QN_RTN, RETRY_EXE_RTN

    def p(qn: str, **extra: object) -> dict[str, object]:
        return {"mn": mn, "cn": cn, "begin_time": begin, "end_time": end, "qn": qn, **retry,
                **extra}  # fmt: skip

    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    assert s.recall_notes([("asked", p("QA", at=t1))]) == 1  # type: ignore[attr-defined]
    assert s.recall_notes([("release", p("QA"))]) == 1  # type: ignore[attr-defined]
    (got,) = s.device_recalls(MN)  # type: ignore[attr-defined]
    assert (got.status, got.attempts) == ("waiting", 0)
    s.recall_notes([("asked", p("QA", at=t1)), ("asked", p("QB", at=t2))])  # type: ignore[attr-defined]
    n = s.recall_notes(  # type: ignore[attr-defined]
        [("answered", p("QB", at=t2, code=1)), ("executed", p("QB", at=t2, code=1))]
    )
    assert n == 2
    for note in ("again", "give_up", "release"):
        assert s.recall_notes([(note, p("QA", at=t2))]) == 0  # type: ignore[attr-defined]
    (got,) = s.device_recalls(MN)  # type: ignore[attr-defined]
    assert (got.status, got.qn, got.attempts) == ("done", "QA", 1)
