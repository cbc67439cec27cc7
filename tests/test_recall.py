"""History requests (补数): the platform asks a data logger for a range of what it kept.

HJ 212-2017 Table C.1: 2031/2051/2061 are the platform's requests for daily, minute and
hourly history, with ``BeginTime`` and ``EndTime`` in CP; the device answers 9011, uploads
the data and ends with 9012. A request waits in the store (``device_recall``, migration
0008) until its device sends on a connection; the gateway hands it to that connection once
and notes when it was sent. Expected values here are the requests the tests make, checked
on DuckDB and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanshui.api import create_app, hash_key, new_key
from shanshui.cli import app as cli
from shanshui.hj212 import Decoder, FrameError, frame_segment
from shanshui.ingest.gateway import DeviceRegistry
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.serve import ServeConfig, serve
from shanshui.ingest.session import Session
from shanshui.ingest.simulate import ReplayStats, SimDevice, hourly_frame, replay
from shanshui.store import (
    AIR_PARAMETERS,
    Device,
    Region,
    Site,
    Store,
    StoreInputError,
    hash_password,
    open_store,
)
from shanshui.store.recalls import MAX_RECALL_SPAN, Recall

pytest_plugins = ["pg"]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MN = "010000A8900016F000169DC0"


def recall(cn: str = "2061", hours: int = 6, mn: str = MN, **kw: object) -> Recall:
    fields: dict[str, object] = {
        "mn": mn, "cn": cn, "begin": NOW - timedelta(hours=hours), "end": NOW,
        "requested": NOW, "actor": "apikey:op", "reason": "gap after an outage",
    }  # fmt: skip
    fields.update(kw)
    return Recall(**fields)  # type: ignore[arg-type]


def test_a_request_waits_until_a_gateway_sent_it(store: Store) -> None:
    assert store.request_recalls([recall(), recall(cn="2051", hours=2)]) == 2  # type: ignore[attr-defined]
    waiting = store.waiting_recalls()  # type: ignore[attr-defined]
    assert sorted((r.cn, r.begin, r.end) for r in waiting) == [
        ("2051", NOW - timedelta(hours=2), NOW),
        ("2061", NOW - timedelta(hours=6), NOW),
    ]
    sent_at = NOW + timedelta(minutes=3)
    assert store.recalls_sent([recall().key], sent_at) == 1  # type: ignore[attr-defined]
    assert store.recalls_sent([recall().key], sent_at + timedelta(hours=1)) == 0  # type: ignore[attr-defined]
    assert [r.cn for r in store.waiting_recalls()] == ["2051"]  # type: ignore[attr-defined]
    mine = {r.cn: r.sent for r in store.device_recalls(MN)}  # type: ignore[attr-defined]
    assert mine == {"2061": sent_at, "2051": None}  # the first send is kept
    # asked again: it waits again
    store.request_recalls([recall(requested=NOW + timedelta(hours=2))])  # type: ignore[attr-defined]
    assert sorted(r.cn for r in store.waiting_recalls()) == ["2051", "2061"]  # type: ignore[attr-defined]
    # each request is in the audit log
    audit = [e for e in store.audit_log(entity="device") if e.action == "recall"]
    assert len(audit) == 3 and {e.key for e in audit} == {MN}, audit


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"cn": "2011"}, "not a history request"),
        ({"begin": NOW + timedelta(hours=1)}, "after its end"),
        ({"begin": NOW - MAX_RECALL_SPAN - timedelta(hours=1)}, "at most"),
        ({"begin": datetime(2026, 3, 1)}, "timezone-aware"),
        ({"reason": ""}, "who asked and why"),
        ({"mn": ""}, "MN"),
    ],
)
def test_a_bad_request_is_refused_and_changes_nothing(
    store: Store, bad: dict[str, object], why: str
) -> None:
    with pytest.raises(StoreInputError, match=why):
        store.request_recalls([recall(mn="OTHER"), recall(**bad)])  # type: ignore[attr-defined]
    assert store.waiting_recalls() == []  # type: ignore[attr-defined]


def test_the_registry_hands_a_request_to_one_connection_and_notes_it_sent(store: Store) -> None:
    store.request_recalls([recall(), recall(mn="OTHER")])  # type: ignore[attr-defined]
    registry = DeviceRegistry(store)
    registry.refresh()
    assert set(registry.recalls) == {MN, "OTHER"}
    (taken,) = registry.take_recalls(MN)
    assert taken.key == recall().key
    assert registry.take_recalls(MN) == []  # once
    registry.refresh()  # not noted yet: still not handed out again
    assert registry.take_recalls(MN) == []
    registry.flush(every=0.0)
    assert [r.mn for r in store.waiting_recalls()] == ["OTHER"]  # type: ignore[attr-defined]
    (noted,) = store.device_recalls(MN)  # type: ignore[attr-defined]
    assert noted.sent is not None
    registry.refresh()
    assert set(registry.recalls) == {"OTHER"}


# -- the gateway sends them: Session + DeviceRegistry, the API, the CLI, and a replay -------
PW = "123456"
SITE = "1001A"


def _registered(store: Store, *, status: str = "active") -> None:
    store.upsert_regions([Region("110000", "北京市", "municipality", None, "Beijing")])
    store.upsert_parameters(AIR_PARAMETERS)
    store.upsert_sites([Site(SITE, "万寿西宫", "air", "110000", 116.3621, 39.8784)])
    store.upsert_devices(
        [Device(MN, status, hash_password(PW, n=2**10), "2017", SITE)], actor="t", reason="t"
    )


class _Committer:
    async def commit(self, payloads: list[bytes]) -> None:
        pass


def _fields(frame: bytes) -> dict[str, str]:
    msg = Decoder().feed(frame)[0]
    assert not isinstance(msg, FrameError), msg
    m = msg.message
    return {"CN": m.cn, "ST": m.st, "MN": m.mn or "", "PW": m.pw or "", "Flag": str(m.flag),
            **m.fields}  # fmt: skip


def test_the_session_sends_a_waiting_request_after_the_answers_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    try:
        _registered(store)
        store.request_recalls([recall(hours=6)])  # type: ignore[attr-defined]
        registry = DeviceRegistry(store)
        registry.refresh()
        session = Session("127.0.0.1:9", registry, _Committer(), GatewayMetrics())  # type: ignore[arg-type]
        upload = hourly_frame(MN, PW, datetime(2026, 3, 1, 19, 0), {"PM2.5": 35.0}).data

        out = asyncio.run(session.handle(upload))
        assert [_fields(f)["CN"] for f in out] == ["9014", "2061"]
        asked = _fields(out[1])
        # HJ 212-2017 Table C.1 request, in the device's edition (Flag 5: 2017, A = 1), its ST,
        # MN and PW; the range in Beijing time (UTC+8, by hand: 06:00Z → 14:00, 12:00Z → 20:00)
        assert asked == {
            "CN": "2061", "ST": "22", "MN": MN, "PW": PW, "Flag": "5",
            "BeginTime": "20260301140000", "EndTime": "20260301200000",
        }  # fmt: skip
        again = asyncio.run(session.handle(upload))
        assert [_fields(f)["CN"] for f in again] == ["9014"]  # sent once
        registry.flush(every=0.0)
        (noted,) = store.device_recalls(MN)  # type: ignore[attr-defined]
        assert noted.sent is not None
    finally:
        store.close()


def test_approving_a_pending_device_asks_for_what_it_sent_meanwhile(tmp_path: Path) -> None:
    from test_api_keys import InProcess, _error

    store = open_store(tmp_path / "s.duckdb")
    try:
        _registered(store)
        first = datetime.now(UTC) - timedelta(hours=3)
        store.note_unknown_device("PENDING1", peer="10.0.0.9:5000", seen=first, protocol="2017")
        token = new_key()
        store.add_api_key(hash_key(token), "operator", "ops", actor="test")  # type: ignore[attr-defined]
        head = {"X-API-Key": token}
        app = create_app(store)
        client = InProcess(app)
        try:
            got = client.post(
                "/api/v1/devices/PENDING1/approve",
                json={"site": SITE, "password": "654321", "reason": "new logger at 1001A"},
                headers=head,
            )
            assert got.status_code == 200, got.text
            items = client.get("/api/v1/devices/PENDING1/recalls", headers=head).json()["items"]
            # the hour before the first refused frame's hour, up to now
            hour = first.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            assert [(i["cn"], i["begin"], i["state"]) for i in items] == [
                ("2061", hour.isoformat(), "waiting")
            ]
            # an operator's request: 40 days are asked for in two ranges of at most 31
            asked = client.post(
                f"/api/v1/devices/{MN}/recalls",
                json={"cn": "2051", "begin": "2026-01-01T00:00:00+08:00",
                      "end": "2026-02-10T00:00:00+08:00", "reason": "gap"},
                headers=head,
            )  # fmt: skip
            assert asked.status_code == 202, asked.text
            assert [i["begin"] for i in asked.json()["items"]] == [
                "2025-12-31T16:00:00+00:00", "2026-01-31T16:00:01+00:00"
            ]  # fmt: skip
            for bad, status in (
                (
                    {"cn": "2011", "begin": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
                    422,
                ),
                ({"begin": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, 422),
                ({"begin": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"}, 422),
            ):
                r = client.post(
                    f"/api/v1/devices/{MN}/recalls", json={**bad, "reason": "x"}, headers=head
                )
                _error(r, status, "validation_failed")
            assert client.post(
                "/api/v1/devices/NOPE/recalls",
                json={"begin": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z",
                      "reason": "x"},
                headers=head,
            ).status_code == 404  # fmt: skip
        finally:
            app.state.readers.close()
        assert len(store.device_recalls(MN)) == 2  # type: ignore[attr-defined]
    finally:
        store.close()


def test_the_cli_queues_and_lists_requests(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        _registered(store)
    runner = CliRunner()
    got = runner.invoke(cli, ["devices", "recall", MN, "--db", str(db), "--begin",
                              "2026-03-01T08:00:00+08:00", "--end", "2026-03-01T12:00:00+08:00",
                              "--reason", "gap after an outage"])  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "queued\t2061\t2026-03-01T00:00:00+00:00\t2026-03-01T04:00:00+00:00" in got.output
    listed = runner.invoke(cli, ["devices", "recalls", MN, "--db", str(db)])
    assert "waiting\tgap after an outage" in listed.output
    bad = runner.invoke(cli, ["devices", "recall", MN, "--db", str(db), "--begin",
                              "2026-03-01T08:00:00", "--end", "2026-03-01T12:00:00+08:00",
                              "--reason", "x"])  # fmt: skip
    assert bad.exit_code != 0 and "time zone" in bad.output


def test_a_replayed_logger_answers_the_gateway_s_request_and_nothing_is_stored_twice(
    tmp_path: Path,
) -> None:
    """Through ``serve`` in-process: the gateway hands the request to the simulated logger's
    connection, the logger answers 9011, uploads the 6 hours asked for, ends with 9012; the
    store holds each of its 24 hours once, with the values the frames carried."""
    db = tmp_path / "s.duckdb"
    start = datetime(2016, 5, 1, 0, 0)  # Beijing time
    values = [float(10 + 3 * h) for h in range(24)]
    frames = [hourly_frame(MN, PW, start + timedelta(hours=h), {"PM2.5": v})
              for h, v in enumerate(values)]  # fmt: skip
    with open_store(db) as store:
        _registered(store)
        store.request_recalls(  # type: ignore[attr-defined]
            [Recall(MN, "2061", datetime(2016, 4, 30, 16, tzinfo=UTC),
                    datetime(2016, 4, 30, 21, tzinfo=UTC), NOW, "apikey:op", "gap")]
        )  # fmt: skip

    async def scenario() -> ReplayStats:
        stop = asyncio.Event()
        ports: dict[str, int] = {}
        config = ServeConfig(
            target=str(db), journal=tmp_path / "journal", host="127.0.0.1", port=0,
            http_port=0, rules_every=0.0, refresh_devices_every=0.5,
        )  # fmt: skip
        task = asyncio.create_task(serve(config, stop=stop, ready=ports.update))
        for _ in range(300):
            if ports or task.done():
                break
            await asyncio.sleep(0.1)
        assert ports, "serve did not start"
        try:
            return await replay([SimDevice(SITE, MN, PW, frames)], "127.0.0.1", ports["port"],
                                window=8, ack_timeout=5.0, max_seconds=60, linger=1.5)  # fmt: skip
        finally:
            stop.set()
            await task

    stats = asyncio.run(scenario())
    assert (stats.requests, stats.recalled) == (1, 6)
    with open_store(db) as store:
        got = store.observations(sites=[SITE], parameters=["PM2.5"])
        (sent,) = store.device_recalls(MN)  # type: ignore[attr-defined]
    assert len(got) == 24  # once each: the answered hours are not stored twice
    assert sorted(got["value"]) == sorted(values)
    assert sent.sent is not None


class _FullDisk:
    async def commit(self, payloads: list[bytes]) -> None:
        raise OSError(28, "no space left on device")


def test_a_request_is_taken_only_with_a_durable_data_upload(tmp_path: Path) -> None:
    """Review 12: a chunk whose journal commit fails sends nothing, so its request must stay
    waiting; a heartbeat (ST=91 or not) carries neither the device's system code nor its data,
    so the request waits for the device's next data upload."""
    store = open_store(tmp_path / "s.duckdb")
    try:
        _registered(store)
        store.request_recalls([recall(hours=6)])  # type: ignore[attr-defined]
        registry = DeviceRegistry(store)
        registry.refresh()
        upload = hourly_frame(MN, PW, datetime(2026, 3, 1, 19, 0), {"PM2.5": 35.0}).data
        failing = Session("127.0.0.1:9", registry, _FullDisk(), GatewayMetrics())  # type: ignore[arg-type]
        with pytest.raises(OSError):
            asyncio.run(failing.handle(upload))
        heartbeat = frame_segment(
            f"QN=20260301190000000;ST=91;CN=9015;PW={PW};MN={MN};Flag=5;CP=&&&&".encode()
        )
        session = Session("127.0.0.1:9", registry, _Committer(), GatewayMetrics())  # type: ignore[arg-type]
        assert [_fields(f)["CN"] for f in asyncio.run(session.handle(heartbeat))] == ["9014"]
        registry.flush(every=0.0)
        assert [r.cn for r in store.waiting_recalls()] == ["2061"]  # type: ignore[attr-defined]
        out = asyncio.run(session.handle(upload))
        assert [(_fields(f)["CN"], _fields(f)["ST"]) for f in out] == [
            ("9014", "91"),
            ("2061", "22"),
        ]
    finally:
        store.close()
