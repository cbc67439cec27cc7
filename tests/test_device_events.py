"""Device events end to end: the messages of a data logger that are not data (HJ 212-2017
Table C.1: 2021 running state, 2081 restart, 3020 site/instrument information, 1013 clock
request; HJ/T 212-2005: 2072 alarm event) are journaled before they are acknowledged,
decoded by the journal writer, stored once in ``device_event`` (DuckDB and PostgreSQL) and
shown by the API and the CLI.

Frames are the real and standard ones of ``shared/reference/hj212/vectors.jsonl`` (v07/v40
2081, v10/v11 3020 in UTF-8 and GBK, v21/v57 2072, v53 2021, v65 1013); expected times are
their DataTime/RestartTime/AlarmTime read as Beijing time (UTC+8) by hand, the expected
fields the ``fields``/``items`` of the vectors file.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakes import Directory
from shanshui.api import create_app, hash_key, new_key
from shanshui.cli import app as cli
from shanshui.hj212 import frame_segment
from shanshui.ingest.journal import GroupCommitter, Journal
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.payload import encode_frames, expand_frames
from shanshui.ingest.session import Session
from shanshui.ingest.writer import JournalWriter
from shanshui.store import AIR_PARAMETERS, Device, Site, Store, StoreInputError, open_store
from shanshui.store.api import DeviceEvent

pytest_plugins = ["pg"]

MN17 = "010000A8900016F000169DC0"  # v07, v10, v11, v40
EVENT_IDS = ("v07", "v10", "v11", "v21", "v40", "v53", "v57", "v65")
PASSWORD = "123456"  # the PW of every vector used here
SITE = "1001A"
RECEIVED = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z [µs]


def _bj(text: str) -> datetime:
    """A Beijing wall time ``YYYY-MM-DD hh:mm:ss`` as an aware UTC datetime (UTC+8, by hand)."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.fixture(scope="module")
def vectors(shared: Path) -> dict[str, dict[str, Any]]:
    path = shared / "reference" / "hj212" / "vectors.jsonl"
    return {v["id"]: v for v in map(json.loads, path.read_text().splitlines())}


def raw(vector: dict[str, Any]) -> bytes:
    """The frame's exact bytes plus CR LF (v11 is GBK: its bytes are in frame_b64)."""
    if "frame_b64" in vector:
        return base64.b64decode(vector["frame_b64"]) + b"\r\n"
    return str(vector["frame"]).encode() + b"\r\n"


class GatedCommitter:
    """A journal stand-in that holds every commit until :attr:`gate` opens."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.gate = asyncio.Event()

    async def commit(self, payloads: list[bytes]) -> None:
        await self.gate.wait()
        self.payloads.extend(payloads)


def session_for(vectors: dict[str, dict[str, Any]], **kw: Any) -> tuple[Session, GatedCommitter]:
    mns = sorted({str(vectors[i]["mn"]) for i in EVENT_IDS})
    committer = GatedCommitter()
    session = Session(
        "127.0.0.1:9", Directory(mns, site=SITE, password=PASSWORD, **kw), committer,
        GatewayMetrics(),
    )  # fmt: skip
    return session, committer


def feed(session: Session, committer: GatedCommitter, data: bytes) -> list[bytes]:
    """Feed bytes; check that no answer leaves before the journal commit returned."""

    async def main() -> list[bytes]:
        task = asyncio.create_task(session.handle(data))
        for _ in range(5):
            await asyncio.sleep(0)
        journaled = bool(committer.payloads)
        assert not task.done() or not journaled
        if task.done():  # nothing to journal: nothing may be answered either
            return task.result()
        committer.gate.set()
        answers = await task
        assert committer.payloads  # the answers came after the commit
        return answers

    committer.gate.clear()
    return asyncio.run(main())


# -- the session: journal before acknowledging -----------------------------------------------
def test_event_frames_are_journaled_before_they_are_answered(
    vectors: dict[str, dict[str, Any]],
) -> None:
    session, committer = session_for(vectors)
    chunk = b"".join(raw(vectors[i]) for i in EVENT_IDS)
    answers = feed(session, committer, chunk)
    (record,) = committer.payloads  # one record for the chunk, as for data
    out, bad, readings = expand_frames([record])
    assert bad == [] and readings == 0  # not data: no readings
    (decoded,) = out
    assert not isinstance(decoded, bytes)
    assert sorted(e.cn for e in decoded.events) == sorted(vectors[i]["cn"] for i in EVENT_IDS)
    # answers, HJ 212-2017 §6.5: 9014 to the 2017 uploads with Flag A=1 and a QN (v07 v10
    # v11 v40: Flag=5), 9013 to the 2005 notices with Flag=1: the alarm 2072 (v57) and the
    # clock request 1013 whose QN is inside CP (v65, answered with it inside CP); none to v21
    # (Flag=0), v53 (no Flag). v65 came with ST=91: its 1012 waits for a frame naming the
    # station's system code (tests/test_clock_set.py)
    cns = [a.split(b";CN=")[1][:4] for a in answers]
    assert sorted(cns) == [b"9013"] * 2 + [b"9014"] * 4
    notices = [a for a in answers if b"CN=9013" in a]
    assert b"20160823235559979" in notices[0] or b"20160823235559979" in notices[1]  # v57's QN
    assert any(b"CP=&&QN=20160824001252000&&" in a for a in notices)  # v65's, inside CP


@pytest.mark.parametrize("vid", ["v07", "v57"])
def test_each_answered_event_waits_for_its_own_commit(
    vectors: dict[str, dict[str, Any]], vid: str
) -> None:
    session, committer = session_for(vectors)
    answers = feed(session, committer, raw(vectors[vid]))
    assert len(answers) == 1 and len(committer.payloads) == 1


def test_events_of_unknown_devices_are_neither_journaled_nor_answered(
    vectors: dict[str, dict[str, Any]],
) -> None:
    committer = GatedCommitter()
    committer.gate.set()
    session = Session("127.0.0.1:9", Directory([]), committer, GatewayMetrics())
    answers = asyncio.run(session.handle(raw(vectors["v07"]) + raw(vectors["v57"])))
    assert answers == [] and committer.payloads == []


def test_a_device_without_a_site_keeps_its_events(vectors: dict[str, dict[str, Any]]) -> None:
    session, committer = session_for(vectors, no_site=(MN17,))
    feed(session, committer, raw(vectors["v07"]))
    (decoded,), _, _ = expand_frames(committer.payloads)
    (event,) = decoded.events  # type: ignore[union-attr]
    assert event.site is None and event.mn == MN17


# -- the writer and the store (DuckDB and PostgreSQL) ----------------------------------------
def _prepare(store: Store) -> None:
    store.upsert_sites([Site(SITE, "万寿西宫", "air")])
    store.upsert_parameters(AIR_PARAMETERS)


def apply(
    journal_dir: Path, store: Store, payloads: list[bytes], metrics: GatewayMetrics | None = None
) -> Path:
    """Journal ``payloads`` and let a writer apply them; the journal folder."""

    async def main() -> None:
        journal = Journal(journal_dir)
        committer = GroupCommitter(journal)
        committer.start()
        writer = JournalWriter(journal, committer, store, metrics or GatewayMetrics())
        await writer.replay()
        for p in payloads:
            await writer.commit([p])
        while writer.position < committer.durable:
            writer._applied(*await asyncio.to_thread(writer.step))
        await committer.close()
        journal.close()

    asyncio.run(main())
    return journal_dir


def journaled(vectors: dict[str, dict[str, Any]], ids: tuple[str, ...] = EVENT_IDS) -> bytes:
    session, committer = session_for(vectors)
    feed(session, committer, b"".join(raw(vectors[i]) for i in ids))
    (record,) = committer.payloads
    return record


def _events(store: Store, vectors: dict[str, dict[str, Any]]) -> list[DeviceEvent]:
    out: list[DeviceEvent] = []
    for mn in sorted({str(vectors[i]["mn"]) for i in EVENT_IDS}):
        out += store.device_events(mn, limit=1000)
    return out


def test_events_reach_both_stores_once_with_their_times_and_fields(
    store: Store, vectors: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    _prepare(store)
    record = journaled(vectors)
    apply(tmp_path / "j", store, [record])
    got = _events(store, vectors)
    # v10 and v11 are one message (UTF-8 and GBK bytes of the same text): one event
    assert len(got) == len(EVENT_IDS) - 1
    by = {(e.mn, e.cn, e.time): e for e in got}
    # v07: 2081, the event's time is its RestartTime 2016-08-01 08:56:24 Beijing
    restart = by[(MN17, "2081", _bj("2016-08-01 08:56:24"))]
    assert restart.kind == "restart" and restart.site == SITE
    assert restart.qn == vectors["v07"]["qn"]
    assert restart.fields == {"DataTime": "20160801085857", "RestartTime": "20160801085624"}
    # v40: another 2081 of the same device (RestartTime 2023-10-07 13:04:52)
    assert by[(MN17, "2081", _bj("2023-10-07 13:04:52"))].kind == "restart"
    # v10/v11: 3020, DataTime 2010-03-01 14:50:00, the log text decoded (UTF-8 / GBK)
    info = by[(MN17, "3020", _bj("2010-03-01 14:50:00"))]
    assert info.kind == "info"
    assert info.fields["PolId"] == vectors["v10"]["fields"]["PolId"] == "w01018"
    assert info.fields["i11001-Info"] == vectors["v10"]["items"]["i11001"]["Info"]
    # v21: 2005 alarm event, AlarmTime 2004-05-06 01:01:01, keys stripped of the spaces
    alarm = by[("88888880000001", "2072", _bj("2004-05-06 01:01:01"))]
    assert alarm.kind == "alarm"
    assert alarm.fields == {"AlarmTime": "20040506010101", "101-Ala": "1.1", "AlarmType": "1"}
    # v57: real 2005 alarm with QN, AlarmTime 2016-08-23 23:55:59
    real = by[("ZG130182201401", "2072", _bj("2016-08-23 23:55:59"))]
    assert real.fields["B01-Ala"] == "16.00" and real.qn == "20160823235559979"
    # v53: 2021 equipment state, DataTime 2016-08-23 23:51:30, SB1…SB8 all 0
    state = by[("ZG130102201215", "2021", _bj("2016-08-23 23:51:30"))]
    assert state.kind == "state" and state.qn is None
    assert {k: v for k, v in state.fields.items() if k != "DataTime"} == {
        f"SB{i}-RS": "0" for i in range(1, 9)
    }
    # v65: 1013 without DataTime or header QN: the time of the QN inside CP
    clock = by[("LD130102000147", "1013", _bj("2016-08-24 00:12:52"))]
    assert clock.kind == "clock" and clock.fields == {"QN": "20160824001252000"}
    # not data: no reading was stored
    assert store.observations(SITE).empty


def test_a_resend_and_a_replay_store_nothing_new(
    store: Store, vectors: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    _prepare(store)
    first = journaled(vectors)
    apply(tmp_path / "j", store, [first])
    before = _events(store, vectors)
    # the device resends the same frames (no answer reached it): another journal record
    resend = journaled(vectors)
    apply(tmp_path / "j", store, [resend])
    # the writer replays the journal from the start (checkpoint lost after the store write)
    apply(tmp_path / "j2", store, [first, resend])
    after = _events(store, vectors)
    assert len(after) == len(before) == len(EVENT_IDS) - 1
    assert [e.received for e in after] == [e.received for e in before]  # the first copy kept


def test_the_events_stored_are_counted_once(
    store: Store, vectors: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # /metrics: shanshui_gateway_device_events_stored_total counts new events only; the same
    # record written again (a resend, a replayed journal) stores and counts nothing
    _prepare(store)
    metrics = GatewayMetrics()
    record = journaled(vectors)
    apply(tmp_path / "j1", store, [record], metrics)
    apply(tmp_path / "j2", store, [record], metrics)
    stored = len(EVENT_IDS) - 1  # v10 and v11 are one message
    assert metrics.value("shanshui_gateway_device_events_stored_total") == stored


def test_events_and_readings_of_one_chunk_are_stored_together(
    store: Store, vectors: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    _prepare(store)
    hour = frame_segment(
        f"QN=20160801085857223;ST=22;CN=2061;PW={PASSWORD};MN={MN17};Flag=5;"
        "CP=&&DataTime=20160801080000;a34004-Avg=35.5,a34004-Flag=N&&".encode()
    )
    session, committer = session_for(vectors)
    answers = feed(session, committer, raw(vectors["v07"]) + hour)
    assert len(answers) == 2 and len(committer.payloads) == 1
    apply(tmp_path / "j", store, committer.payloads)
    assert len(store.observations(SITE)) == 1
    assert [e.cn for e in store.device_events(MN17)] == ["2081"]


def test_an_event_frame_that_does_not_decode_is_dead_lettered(store: Store, tmp_path: Path) -> None:
    _prepare(store)
    head = b"ST=32;CN=2021;PW=1;MN=X1;Flag=5;CP=&&DataTime=20160801085857;"
    bad = b"QN=20160801085857223;" + head + b"SB1-RS&&"  # an entry without '='
    good = b"QN=20160801085857224;" + head + b"SB1-RS=1&&"
    folder = apply(tmp_path / "j", store, [encode_frames([bad, good], [SITE, SITE], RECEIVED)])
    (line,) = (folder / "deadletter.jsonl").read_text().splitlines()
    dead = json.loads(line)
    assert dead["frame"]["segment"] == bad.decode() and "no '='" in dead["reason"]
    (event,) = store.device_events("X1")
    assert event.fields == {"DataTime": "20160801085857", "SB1-RS": "1"}


def test_a_refused_record_dead_letters_its_events_too(tmp_path: Path) -> None:
    """A record the store refuses (its readings' site is unknown) goes to the dead-letter
    file whole: its device events are in the line, not lost."""
    with open_store(tmp_path / "s.duckdb") as store:
        _prepare(store)
        head = b";ST=22;PW=1;MN=X2;Flag=4;CP=&&DataTime=20160801080000;"
        data = b"QN=1;CN=2061" + head + b"a34004-Avg=1&&"
        event = b"QN=2;CN=2081" + head + b"RestartTime=20160801070000&&"
        record = encode_frames([data, event], ["NOSUCHSITE", "NOSUCHSITE"], RECEIVED)
        folder = apply(tmp_path / "j", store, [record])
        (line,) = (folder / "deadletter.jsonl").read_text().splitlines()
        (dead,) = json.loads(line)["events"]
        assert dead["cn"] == "2081" and dead["fields"]["RestartTime"] == "20160801070000"
        assert store.device_events("X2") == []


# -- the store's contract (both back ends) ---------------------------------------------------
T = datetime(2024, 5, 1, tzinfo=UTC)


def ev(cn: str = "2021", kind: str = "state", at: datetime = T, **kw: Any) -> DeviceEvent:
    fields = kw.pop("fields", {"DataTime": "20240501080000", "SB1-RS": "1"})
    return DeviceEvent("MN9", cn, kind, at, kw.pop("received", T), fields, **kw)


def test_store_keeps_each_event_once_by_its_key(store: Store) -> None:
    first = ev(qn="20240501080000001", site="S9")
    assert store.write_device_events([first, first]) == 1
    # the same message resent under a new QN and received later: the same event
    again = ev(qn="20240501080000999", site="S9", received=T + timedelta(minutes=5))
    assert store.write_device_events([again]) == 0
    (kept,) = store.device_events("MN9")
    assert kept.qn == "20240501080000001" and kept.received == T and kept.site == "S9"
    # another message of the same time (other fields) and a device without a site: new keys
    other = ev(site="S9", fields={"DataTime": "20240501080000", "SB1-RS": "2"})
    assert store.write_device_events([other, ev()]) == 2
    got = store.device_events("MN9")
    assert len(got) == 3 and sorted(str(e.site) for e in got) == ["None", "S9", "S9"]


def test_store_lists_newest_first_with_filters(store: Store) -> None:
    events = [
        ev(at=T),
        ev("2081", "restart", T + timedelta(hours=1), fields={"RestartTime": "x"}),
        ev(at=T + timedelta(hours=2), fields={"SB1-RS": "0"}),
    ]
    store.write_device_events(events)
    got = store.device_events("MN9")
    assert [e.time for e in got] == [T + timedelta(hours=h) for h in (2, 1, 0)]
    assert [e.kind for e in store.device_events("MN9", kind="restart")] == ["restart"]
    since = store.device_events("MN9", since=T + timedelta(hours=1))
    assert [e.time for e in since] == [T + timedelta(hours=2), T + timedelta(hours=1)]
    assert len(store.device_events("MN9", limit=1)) == 1
    assert store.device_events("OTHER") == []
    # a zoned time is compared as the instant it is
    bj = datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=8)))  # 02:00 UTC
    assert [e.time for e in store.device_events("MN9", since=bj)] == [T + timedelta(hours=2)]


def test_store_refuses_bad_events_and_changes_nothing(store: Store) -> None:
    with pytest.raises(StoreInputError):
        store.write_device_events([ev(), ev(at=datetime(2024, 5, 1))])  # naive time
    with pytest.raises(StoreInputError):
        store.write_device_events([ev(kind="noise")])
    with pytest.raises(StoreInputError):
        store.write_device_events([ev(fields={"x": float("nan")})])
    with pytest.raises(StoreInputError):
        store.device_events("MN9", kind="noise")
    assert store.device_events("MN9") == []


def test_write_observations_stores_events_in_its_transaction(store: Store) -> None:
    _prepare(store)
    reading = (SITE, "PM2.5", "avg", "hour", T, 35.0, "N")
    result = store.write_observations([reading], source="test", events=[ev()])
    assert (result.inserted, result.events) == (1, 1)
    # a bad reading refuses the whole call: its events are not stored either
    with pytest.raises(StoreInputError):
        store.write_observations(
            [("NOSUCH", "PM2.5", "avg", "hour", T, 1.0, "N")], events=[ev(at=T + timedelta(1))]
        )
    assert len(store.device_events("MN9")) == 1
    assert store.write_observations([reading], events=[ev()]).events == 0


# -- the faces --------------------------------------------------------------------------------
@pytest.fixture
def filled(tmp_path: Path, vectors: dict[str, dict[str, Any]]) -> Iterator[Path]:
    """A DuckDB store with the vectors' devices registered and their events written."""
    path = tmp_path / "f.duckdb"
    with open_store(path) as store:
        _prepare(store)
        store.upsert_devices(
            [Device(str(vectors[i]["mn"]), site=SITE) for i in EVENT_IDS], actor="test"
        )
        apply(tmp_path / "j", store, [journaled(vectors)])
    yield path


def test_api_lists_a_device_s_events_for_operators(filled: Path) -> None:
    from test_api_keys import InProcess, _error

    with open_store(filled) as store:
        token = new_key()
        store.add_api_key(hash_key(token), "operator", "ops", actor="test")
        app = create_app(store)
        try:
            client = InProcess(app)
            head = {"X-API-Key": token}
            _error(client.get(f"/api/v1/devices/{MN17}/events"), 401, "unauthorized")
            body = client.get(f"/api/v1/devices/{MN17}/events", headers=head).json()
            times = [i["time"] for i in body["items"]]
            assert times == sorted(times, reverse=True) and body["count"] == 3
            newest = dict(body["items"][0])
            datetime.fromisoformat(newest.pop("received"))  # when the gateway got it
            assert newest == {  # v40: RestartTime 2023-10-07 13:04:52 Beijing
                "mn": MN17, "site": SITE, "cn": "2081", "kind": "restart",
                "time": "2023-10-07T05:04:52+00:00", "qn": "20231008130452757",
                "fields": {"DataTime": "20231008130452", "RestartTime": "20231007130452"},
            }  # fmt: skip
            kind = client.get(f"/api/v1/devices/{MN17}/events?kind=info", headers=head).json()
            assert [i["cn"] for i in kind["items"]] == ["3020"]
            since = "2016-01-01T00:00:00%2B08:00"
            late = client.get(f"/api/v1/devices/{MN17}/events?since={since}", headers=head)
            assert [i["cn"] for i in late.json()["items"]] == ["2081", "2081"]
            state = client.get("/api/v1/devices/ZG130102201215/events", headers=head).json()
            (item,) = state["items"]
            assert item["states"]["SB1"] == {"code": "0", "meaning": "stopped"}
            _error(client.get("/api/v1/devices/NOPE/events", headers=head), 404, "not_found")
            bad = f"/api/v1/devices/{MN17}/events?since=2016-01-01T00:00:00"
            _error(client.get(bad, headers=head), 422, "validation_failed")
            _error(
                client.get(f"/api/v1/devices/{MN17}/events?limit=5000", headers=head),
                422, "validation_failed",
            )  # fmt: skip
            _error(
                client.get(f"/api/v1/devices/{MN17}/events?kind=x", headers=head),
                422, "validation_failed",
            )  # fmt: skip
        finally:
            app.state.readers.close()


def test_cli_lists_a_device_s_events(filled: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["devices", "events", "ZG130102201215", "--db", str(filled)])
    assert out.exit_code == 0, out.output
    (line,) = out.stdout.strip().splitlines()
    assert line.startswith("2016-08-23T15:51:30+00:00\tstate\t2021\tSB1=0(stopped) SB2=0")
    listed = runner.invoke(
        cli, ["devices", "events", MN17, "--db", str(filled), "--kind", "restart", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["fields"]["RestartTime"] for r in rows] == ["20231007130452", "20160801085624"]
    missing = runner.invoke(cli, ["devices", "events", "NOPE", "--db", str(filled)])
    assert missing.exit_code == 1 and "no device" in missing.output


# -- decoding ----------------------------------------------------------------------------------
def test_the_c_reader_returns_an_event_s_cn_and_no_readings(
    vectors: dict[str, dict[str, Any]],
) -> None:
    """expand_frames diverts event segments by the CN the C reader returns (for a plain
    segment, v07) or, when it returns None, by the full decode's CN."""
    from shanshui.hj212.scan import CP_READINGS_C
    from shanshui.ingest.readings import _STATS, AIR_CODES

    if CP_READINGS_C is None:
        pytest.skip("the C reader (shanshui.hj212._scan) is not built here")
    segment = raw(vectors["v07"])[6:-6]
    got = CP_READINGS_C(segment, AIR_CODES, _STATS)
    assert got is not None
    assert got[:3] == ("2081", MN17, "20160801085857") and got[3:] == ([], [], [], [])


def test_a_run_time_upload_is_an_event_not_readings() -> None:
    """CN 2041 (HJ 212-2017 Table C.1, equipment run time, ``SBn-RT`` hours of the day;
    CONSTRUCTED segment in the standard's layout): a ``runtime`` event with its hours as
    sent, no reading (RT is not a statistic)."""
    segment = (
        b"QN=20160802010000000;ST=32;CN=2041;PW=123456;MN=" + MN17.encode()
        + b";Flag=5;CP=&&DataTime=20160801000000;SB1-RT=18.50;SB2-RT=24&&"
    )  # fmt: skip
    (decoded,), bad, readings = expand_frames([encode_frames([segment], [SITE], RECEIVED)])
    assert (bad, readings) == ([], 0)
    (event,) = decoded.events  # type: ignore[union-attr]
    assert event.kind == "runtime" and event.time == _bj("2016-08-01 00:00:00")
    assert event.fields == {"DataTime": "20160801000000", "SB1-RT": "18.50", "SB2-RT": "24"}
    assert event.received == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_an_event_dated_year_1_is_kept_under_its_qn_time_and_stops_nothing() -> None:
    # DataTime 0001-01-01 00:00 Beijing is before UTC's year 1: not a time the store can
    # hold. The event falls back to its QN's time (shanshui.ingest.events.event_time), and
    # the data frame journaled with it is decoded too (review 12: the writer stalled).
    state = (
        b"QN=20160801085857223;ST=31;CN=2021;PW=123456;MN=M1;Flag=5;"
        b"CP=&&DataTime=00010101000000;SB1-RS=1&&"
    )
    data = (
        b"QN=20160801085857224;ST=22;CN=2061;PW=123456;MN=M1;Flag=5;"
        b"CP=&&DataTime=20160801080000;a34004-Avg=35,a34004-Flag=N&&"
    )
    out, bad, readings = expand_frames([encode_frames([state, data], [SITE, SITE], RECEIVED)])
    assert (bad, readings) == ([], 1)
    (record,) = out
    assert not isinstance(record, bytes)
    (event,) = record.events
    assert event.time == _bj("2016-08-01 08:58:57.223")
