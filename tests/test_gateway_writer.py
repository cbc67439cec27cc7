"""The journal writer: durable records reach the store once, corrections are audited,
a restart replays what the store has not got (DESIGN §4 idempotence, §5 promises)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shanshui.hj212 import Message
from shanshui.ingest.journal import GroupCommitter, Journal, Position
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.payload import Columns, encode_payload
from shanshui.ingest.readings import add_readings
from shanshui.ingest.writer import JournalWriter
from shanshui.store import AIR_PARAMETERS, Site, open_store

T0 = datetime(2014, 1, 1, 0, tzinfo=UTC)  # 08:00 Beijing


def payload(site: str, items: dict[str, dict[str, object]], hour: str = "20140101080000") -> bytes:
    cols = Columns()
    msg = Message.build(st="22", cn="2061", mn="MN1", data_time=hour, items=items)
    add_readings(cols, msg, site)
    return encode_payload(cols, 1_700_000_000_000_000)


def make_store(path: Path):  # type: ignore[no-untyped-def]
    store = open_store(str(path))
    store.upsert_sites([Site("1001A", "Wanshouxigong", "air")])
    store.upsert_parameters(AIR_PARAMETERS)
    return store


async def commit_and_apply(directory: Path, store: object, payloads: list[bytes]) -> JournalWriter:
    journal = Journal(directory)
    committer = GroupCommitter(journal)
    committer.start()
    writer = JournalWriter(journal, committer, store, GatewayMetrics())  # type: ignore[arg-type]
    await writer.replay()
    for p in payloads:
        await writer.commit([p])
    while writer.position < committer.durable:
        writer._applied(*await asyncio.to_thread(writer.step))
    await committer.close()
    journal.close()
    return writer


@dataclass
class Rig:
    """A store with one air site, the journal's folder and the gateway's metrics: what a
    test drives a :class:`JournalWriter` with (:meth:`writer`)."""

    store: Any
    journal_dir: Path
    metrics: GatewayMetrics

    @contextlib.asynccontextmanager
    async def writer(self, **kwargs: Any) -> AsyncIterator[JournalWriter]:
        """A writer on a fresh journal and a started group committer, both closed after."""
        journal = Journal(self.journal_dir)
        committer = GroupCommitter(journal)
        committer.start()
        try:
            yield JournalWriter(journal, committer, self.store, self.metrics, **kwargs)
        finally:
            await committer.close()
            journal.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    store = make_store(tmp_path / "s.duckdb")
    yield Rig(store, tmp_path / "j", GatewayMetrics())
    store.close()


def test_resend_is_stored_once_and_a_correction_is_audited(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.duckdb")
    first = payload("1001A", {"a34004": {"Avg": "10"}})
    asyncio.run(commit_and_apply(tmp_path / "j", store, [first, first]))
    got = store.observations("1001A")
    assert len(got) == 1 and got["value"].iloc[0] == 10.0
    assert got["time"].iloc[0] == T0
    asyncio.run(
        commit_and_apply(tmp_path / "j", store, [payload("1001A", {"a34004": {"Avg": "12"}})])
    )
    got = store.observations("1001A")
    assert len(got) == 1 and got["value"].iloc[0] == 12.0
    (audit,) = store.audit_log(entity="observation")
    assert audit.old_value["value"] == 10.0 and audit.new_value["value"] == 12.0
    store.close()


def test_restart_replays_records_not_in_the_store(tmp_path: Path) -> None:
    # records made durable, then the process "dies" before the writer ran
    journal = Journal(tmp_path / "j")
    for hour in ("20140101080000", "20140101090000"):
        journal.append(payload("1001A", {"a34002": {"Avg": "70"}}, hour))
    journal.sync()
    journal.close()
    store = make_store(tmp_path / "s.duckdb")
    writer = asyncio.run(commit_and_apply(tmp_path / "j", store, []))
    assert len(store.observations("1001A")) == 2
    assert writer.pending_records == 0
    with Journal(tmp_path / "j") as again:
        assert list(again.pending()) == []  # checkpoint advanced
    store.close()


def test_bad_record_goes_to_deadletter_and_the_rest_is_stored(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.duckdb")
    good = payload("1001A", {"a21004": {"Avg": "40"}, "DEWP": {"Avg": "-3.5"}})
    bad = payload("NOSUCHSITE", {"a21004": {"Avg": "40"}})
    asyncio.run(commit_and_apply(tmp_path / "j", store, [good, bad]))
    got = store.observations("1001A")
    assert sorted(got["parameter"]) == ["DEWP", "NO2"]
    # a vendor code is registered under its own code with the unit known for it (°C)
    assert {p.code: p.unit for p in store.parameters()}["DEWP"] == "°C"
    lines = (tmp_path / "j" / "deadletter.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["record"]["s"] == ["NOSUCHSITE"]
    store.close()


def test_a_lone_bad_record_is_dead_lettered_and_the_writer_goes_on(rig: Rig) -> None:
    # A batch of one refused record (a record is applied as soon as it is durable, so at low
    # load most batches hold one) must not stop the writer: it is dead-lettered like any other.
    async def main() -> None:
        async with rig.writer() as writer:
            for p in (
                payload("NOSUCHSITE", {"a21004": {"Avg": "40"}}),
                payload("1001A", {"a21004": {"Avg": "41"}}),
            ):
                await writer.commit([p])
                writer._applied(*await asyncio.to_thread(writer.step))

    asyncio.run(main())
    assert list(rig.store.observations("1001A")["value"]) == [41.0]
    lines = (rig.journal_dir / "deadletter.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["record"]["s"] == ["NOSUCHSITE"]


def test_an_acknowledged_frame_whose_cp_does_not_decode_is_dead_lettered(rig: Rig) -> None:
    # The gateway journals frames after reading their headers only (shanshui.hj212.scan); a
    # CP entry without '=' (HJ 212-2017 §6.3.3.2 requires key=value) is found by the writer:
    # that frame goes to the dead-letter file with its reason (the entry names no measurement,
    # so nothing of it is kept: shanshui.ingest.salvage), the record's other frame is
    # stored, and the dead letter is counted.
    from shanshui.ingest.payload import encode_frames

    good = (
        Message.build(
            st="22",
            cn="2061",
            mn="MN1",
            data_time="20140101080000",
            items={"a21004": {"Avg": "41"}},
        )
        .segment()
        .encode()
    )
    bad = good.replace(b";a21004-Avg=41", b";junk;a21004-Avg=43").replace(b"080000", b"090000")

    async def main() -> None:
        async with rig.writer() as writer:
            await writer.commit([encode_frames([bad, good], ["1001A", "1001A"], 1)])
            writer._applied(*await asyncio.to_thread(writer.step))

    asyncio.run(main())
    assert sorted(rig.store.observations("1001A")["value"]) == [41.0]
    (line,) = (rig.journal_dir / "deadletter.jsonl").read_text().splitlines()
    dead = json.loads(line)
    assert dead["reason"].startswith("bad_field") and dead["frame"]["site"] == "1001A"
    assert "kept" not in dead["reason"]
    assert dead["frame"]["segment"] == bad.decode()
    assert rig.metrics.value("shanshui_gateway_dead_letters_total", kind="frame") == 1
    assert rig.metrics.value("shanshui_gateway_observations_journaled_total") == 1


def test_a_refused_record_of_frames_is_dead_lettered_with_its_readings(tmp_path: Path) -> None:
    # A device whose site was deleted: the store refuses the record (StoreInputError); the
    # dead-letter line keeps its readings, decoded from the journaled frames.
    from shanshui.ingest.payload import encode_frames

    store = make_store(tmp_path / "s.duckdb")
    msg = Message.build(
        st="22", cn="2061", mn="MN1", data_time="20140101080000", items={"a21004": {"Avg": "40"}}
    )
    segment = msg.segment().encode()
    records = [
        encode_frames([segment], ["NOSUCHSITE"], 1),
        encode_frames([segment.replace(b"=40", b"=42")], ["1001A"], 2),
    ]
    asyncio.run(commit_and_apply(tmp_path / "j", store, records))
    assert list(store.observations("1001A")["value"]) == [42.0]
    (line,) = (tmp_path / "j" / "deadletter.jsonl").read_text().splitlines()
    dead = json.loads(line)["record"]
    assert dead["s"] == ["NOSUCHSITE"] and dead["p"] == ["NO2"] and dead["v"] == [40.0]
    store.close()


def frames(*values: str, hour: str = "20140101080000") -> bytes:
    """A version 3 journal record (what the gateway writes): one NO2 frame per value."""
    from shanshui.ingest.payload import encode_frames

    segments = [
        Message.build(st="22", cn="2061", mn="MN1", data_time=hour, items={"a21004": {"Avg": v}})
        .segment()
        .encode()
        for v in values
    ]
    return encode_frames(segments, ["1001A"] * len(segments), 1_700_000_000_000_000)


def test_stored_counts_readings_inserted_or_corrected_not_resends(rig: Rig) -> None:
    # One reading sent three times is one reading in the store (DESIGN §4), so the stored
    # counter says 1, whether the resends come in one writer batch or in three; a correction
    # is a reading written (2). Journaled counts every reading acknowledged (3 + 3 + 1).
    metrics = rig.metrics

    async def main() -> None:
        async with rig.writer() as writer:
            for _ in range(3):  # three batches of one record
                await writer.commit([frames("40")])
                writer._applied(*await asyncio.to_thread(writer.step))
            assert metrics.value("shanshui_gateway_observations_stored_total") == 1
            for _ in range(3):  # the same, three records in one batch
                await writer.commit([frames("40")])
            writer._applied(*await asyncio.to_thread(writer.step))
            assert metrics.value("shanshui_gateway_observations_stored_total") == 1
            await writer.commit([frames("42")])  # a correction
            writer._applied(*await asyncio.to_thread(writer.step))

    asyncio.run(main())
    assert list(rig.store.observations("1001A")["value"]) == [42.0]
    assert metrics.value("shanshui_gateway_observations_stored_total") == 2
    assert metrics.value("shanshui_gateway_observations_journaled_total") == 7


def test_readings_acknowledged_while_the_store_is_down_are_counted_as_journaled(
    rig: Rig,
) -> None:
    # DESIGN §5: while the database is down the gateway goes on acknowledging (the readings
    # are durable in the journal); the journaled counter says so at once, the stored one
    # stays 0 until the store is back, then counts each distinct reading once.
    from shanshui.store import StoreError

    store, metrics = rig.store, rig.metrics
    write = store.write_observations

    def down(*args: object, **kwargs: object) -> object:
        raise StoreError("the database is down")

    store.write_observations = down  # type: ignore[method-assign]
    records = [
        frames("40", "41", hour="20140101080000"),  # 2 readings
        frames("50", hour="20140101090000"),
        frames("60", "61", "62", hour="20140101100000"),  # one hour sent 3 times: 1 stored
    ]

    async def wait_for(name: str, value: float) -> None:
        for _ in range(500):
            if metrics.value(name) >= value:
                return
            await asyncio.sleep(0.01)

    async def main() -> None:
        # one record per batch: without decoding ahead, only the first would be counted
        async with rig.writer(batch_records=1) as writer:
            task = asyncio.create_task(writer.run(poll=0.01))
            for record in records:
                await writer.commit([record])
            await wait_for("shanshui_gateway_observations_journaled_total", 6)
            assert metrics.value("shanshui_gateway_observations_journaled_total") == 6
            assert metrics.value("shanshui_gateway_store_errors_total") >= 1
            assert metrics.value("shanshui_gateway_observations_stored_total") == 0
            assert writer.lag()[0] == 3
            store.write_observations = write  # type: ignore[method-assign]
            await wait_for("shanshui_gateway_observations_stored_total", 3)
            writer.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert len(store.observations("1001A")) == 3
    assert metrics.value("shanshui_gateway_observations_stored_total") == 3
    assert metrics.value("shanshui_gateway_observations_journaled_total") == 6  # not again


def test_a_record_the_database_refuses_for_its_data_is_dead_lettered(tmp_path: Path) -> None:
    # The store's driver refuses one record for its data (a driver data error as the
    # StoreError's cause: PostgreSQL's "invalid byte sequence", a value out of range, a
    # broken constraint): writing it again fails again. The record is set aside like one the
    # store's own checks refuse (dead-lettered with its bytes) and the others are stored;
    # before, the writer took the refusal for a database outage and retried it for ever,
    # storing nothing for any device (review 16a). DESIGN §5: bad input changes nothing for
    # others. Another StoreError (the database down) is still retried, nothing set aside.
    import duckdb

    from shanshui.errors import StoreError
    from shanshui.ingest.payload import encode_frames

    store = make_store(tmp_path / "s.duckdb")
    write = store.write_observations
    outage = [True]

    def refusing(table, **kwargs):  # type: ignore[no-untyped-def]
        if outage[0]:
            outage[0] = False
            raise StoreError("postgres store: connection refused")  # no data cause: retried
        if 7.0 in table["value"].to_pylist():
            raise StoreError("postgres store: invalid byte sequence") from (
                duckdb.ConversionException("a text the database cannot hold")
            )
        return write(table, **kwargs)

    store.write_observations = refusing
    msg = Message.build(
        st="22", cn="2061", mn="MN1", data_time="20140101080000", items={"a21004": {"Avg": "40"}}
    )
    segment = msg.segment().encode()
    records = [
        encode_frames([segment.replace(b"=40", b"=41")], ["1001A"], 1),
        encode_frames([segment.replace(b"=40", b"=7").replace(b"0800", b"1000")], ["1001A"], 2),
        encode_frames([segment.replace(b"=40", b"=42").replace(b"0800", b"0900")], ["1001A"], 3),
    ]

    async def apply() -> JournalWriter:
        journal = Journal(tmp_path / "j")
        committer = GroupCommitter(journal)
        committer.start()
        writer = JournalWriter(journal, committer, store, GatewayMetrics())
        for record in records:
            await writer.commit([record])
        with pytest.raises(StoreError, match="connection refused"):  # the outage: retried
            await asyncio.to_thread(writer.step)
        assert not (tmp_path / "j" / "deadletter.jsonl").exists()  # nothing set aside
        while writer.position < committer.durable:
            writer._applied(*await asyncio.to_thread(writer.step))
        await committer.close()
        journal.close()
        return writer

    writer = asyncio.run(apply())
    assert sorted(store.observations("1001A")["value"]) == [41.0, 42.0]
    (line,) = (tmp_path / "j" / "deadletter.jsonl").read_text().splitlines()
    assert "invalid byte sequence" in json.loads(line)["reason"]
    assert json.loads(line)["record"]["v"] == [7.0]
    assert writer.position == writer.committer.durable  # nothing left behind
    store.close()


def test_the_lag_is_zero_once_every_durable_record_is_read_even_a_damaged_one(
    tmp_path: Path,
) -> None:
    # A record acknowledged (counted in the lag at its commit) and then damaged on disk is
    # dead-lettered by the reader and never applied: the lag must not stay at 1 for good
    # (review 18; an alert on "lag > 0" fired until a restart).
    store = make_store(tmp_path / "s.duckdb")

    async def run() -> JournalWriter:
        journal = Journal(tmp_path / "j")
        committer = GroupCommitter(journal)
        committer.start()
        writer = JournalWriter(journal, committer, store, GatewayMetrics())
        for value in ("40", "41", "42"):
            await writer.commit([frames(value, hour=f"201401010{value[-1]}0000")])
        assert writer.pending_records == 3
        segment = next((tmp_path / "j").glob("seg-*.log"))
        data = bytearray(segment.read_bytes())
        data[20] ^= 0xFF  # inside the first record's payload: its CRC fails
        segment.write_bytes(bytes(data))
        while writer.position < committer.durable:
            writer._applied(*await asyncio.to_thread(writer.step))
        await committer.close()
        journal.close()
        return writer

    writer = asyncio.run(run())
    assert sorted(store.observations("1001A")["value"]) == [41.0, 42.0]
    assert writer.pending_records == 0
    assert writer.metrics.value("shanshui_gateway_write_lag_records") == 0
    store.close()


def test_the_writer_reaches_the_durable_point_past_an_empty_newest_segment(
    tmp_path: Path,
) -> None:
    # A journal whose newest segment is empty (started at open past a tail it could not
    # dead-letter for lack of space, or a rotation with nothing written yet): once the records
    # are applied, the writer is at the durable point, so a stop ends at once (review 18 #6:
    # serve waited 30 s for records that never come).
    store = make_store(tmp_path / "s.duckdb")
    folder = tmp_path / "j"
    with Journal(folder) as journal:
        journal.append(frames("40"))
        journal.sync()
    (folder / "seg-00000000000000000002.log").touch()

    async def run() -> tuple[JournalWriter, Position]:
        journal = Journal(folder)
        committer = GroupCommitter(journal)
        committer.start()
        writer = JournalWriter(journal, committer, store, GatewayMetrics())
        await writer.replay()
        durable = committer.durable
        await committer.close()
        journal.close()
        return writer, durable

    writer, durable = asyncio.run(run())
    assert store.observations("1001A")["value"].tolist() == [40.0]
    assert durable == Position(2, 0) and writer.position == durable
    store.close()
