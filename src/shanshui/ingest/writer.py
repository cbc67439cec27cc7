"""Moving journal records into the store, in batches, and following up daily aggregates.

The gateway acknowledges a reading once its journal record is durable (DESIGN §5); this
writer then reads the durable records in order, writes them to the store in one
:meth:`~shanshui.store.Store.write_observations` call per batch (idempotent: a replayed
record changes nothing, a correction is audited by the store), advances the journal's
checkpoint, and recomputes the daily aggregates of the (site, natural day) pairs the writes
touched (:meth:`~shanshui.store.Store.recompute_daily`, GB 3095-2012 Table 4 rule there).

* The store down (PostgreSQL stopped): the batch is retried with back-off; the journal keeps
  growing and the gateway keeps acknowledging until :attr:`JournalWriter.max_lag_records`,
  then the sessions wait (back-pressure) until the writer catches up. Between retries the
  writer decodes the records made durable meanwhile (:meth:`JournalWriter.count_ahead`), so
  that ``shanshui_gateway_observations_journaled_total`` counts the acknowledged readings
  and bad frames are dead-lettered while the store is down, not once it is back.
* Metrics: ``…_observations_journaled_total`` counts the readings of the records as the
  writer first reads them (once per record: a retried batch does not count again): those a
  version 3 record's frames decode to, and those a version 1 or 2 record (written before an
  upgrade, replayed after it) holds;
  ``…_observations_stored_total`` counts the readings the store inserted or corrected
  (:class:`~shanshui.store.api.WriteResult`), not resends, which change nothing.
* A record the store refuses as bad input (an unknown site: a device attached to a site that
  was deleted) would block the queue forever: its rows are written one record at a time and
  the refused ones go to ``deadletter.jsonl`` in the journal directory, with the reason.
* The gateway journals the frames of data uploads undecoded (version 3 records,
  :func:`~shanshui.ingest.payload.expand_frames`): this writer decodes their CP. A frame
  that does not decode there (it passed the CRC and header checks, so it was acknowledged)
  is counted (``shanshui_gateway_dead_letters_total{kind="frame"}``) and written to
  ``deadletter.jsonl`` with its reason, its site and its segment — one line per frame; the
  record's other frames are stored. A reading outside its parameter's plausibility bounds
  (:func:`screen`: the bounds of :mod:`shanshui.formats.validity` that the file readers and
  the HTTP ingest apply; PM2.5 = 99999 would publish AQI 500) is not stored either, nor
  dropped: its frame goes to ``deadletter.jsonl`` as received, with each refused reading's
  code, value, flag, bound and source; the frame's other readings are stored; counted as
  ``shanshui_gateway_observations_refused_total{reason="implausible"}`` (readings) and
  ``…_dead_letters_total{kind="implausible"}`` (frames). The records' device events
  (state, restart, alarm, information and clock messages, :mod:`shanshui.ingest.events`)
  are written with their batch's readings in one transaction
  (``write_observations(…, events=…)``), idempotently
  (:mod:`shanshui.store.events`: a replayed record stores nothing new); a dead-lettered
  record's line carries its events. Dead-letter lines are written (fsync) before the
  checkpoint passes their record, so a crash in between may write a line twice, never
  lose one. The dead-letter file is rotated by size, never deleted
  (:func:`~shanshui.ingest.journal.append_dead_letters`); ``/metrics`` shows the files,
  lines and bytes kept (``shanshui_gateway_dead_letter_{files,lines,bytes}``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
from collections.abc import Callable
from typing import cast

import numpy as np
import pyarrow as pa

from shanshui.errors import StoreError
from shanshui.formats import UNITS
from shanshui.ingest.events import event_json
from shanshui.ingest.journal import (
    DeadLetterTally,
    GroupCommitter,
    Journal,
    JournalError,
    Position,
    append_dead_letters,
)
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.payload import (
    BadFrame,
    Columns,
    FrameRecord,
    Record,
    decode_payload,
    expand_frames,
    payload_table,
    received_of,
)
from shanshui.ingest.readings import (
    CODE_UNITS,
    implausible_readings,
    refusal_reason,
)
from shanshui.store.api import Parameter, Store
from shanshui.store.faults import refused_for_data
from shanshui.store.seed import AIR_PARAMETERS
from shanshui.store.sqlstore import DIRTY_CHUNK

_KNOWN_UNITS = {p.code: p for p in AIR_PARAMETERS}
#: The head of a version 2 record: u8 version | i64 received | u32 frames | u32 readings.
_V2_HEAD = struct.Struct("<BqII")
#: A batch stops growing past this many payload bytes (memory bound; a record is at most
#: :data:`~shanshui.ingest.journal.MAX_RECORD`).
BATCH_BYTES = 32 * 1024 * 1024


def parameter_for(code: str) -> Parameter:
    """A parameter to register for a code first seen in a frame (unit when known)."""
    if code in _KNOWN_UNITS:
        return _KNOWN_UNITS[code]
    unit = UNITS.get(code) or CODE_UNITS.get(code) or "unknown"
    return Parameter(code, code, unit, code if code[:1] in "aw" and code[1:].isdigit() else None)


def _dead_letter(record: Record, reason: str) -> dict[str, object]:
    """A dead-letter line: the reason, the record's readings when it decodes, and the record
    itself (base64) so that nothing acknowledged is lost."""
    payload = record.payload() if isinstance(record, FrameRecord) else record
    line: dict[str, object] = {"reason": reason}
    try:
        received, columns = decode_payload(payload)
        line["record"] = {"r": received, **columns}
    except ValueError:
        line["record"] = None
    line["payload_b64"] = base64.b64encode(payload).decode()
    if isinstance(record, FrameRecord) and record.events:  # the record's device events too
        line["events"] = [event_json(e) for e in record.events]
    return line


def _readings_of_old(payload: bytes) -> int:
    """The readings a version 1 or 2 journal record holds (layouts in
    :mod:`shanshui.ingest.payload`), counted as a version 3 record's decoded readings are:
    every reading as sent. Version 2: the header's ``u32 readings R`` (``u8 2 | i64 received
    | u32 frames F | u32 readings R``); version 1: the length of the JSON ``"v"`` list. A
    record that does not read counts 0 (the writer dead-letters it)."""
    if payload[:1] == b"\x02":
        try:
            return int(_V2_HEAD.unpack_from(payload)[3])
        except struct.error:
            return 0
    try:
        values = json.loads(payload)["v"]
    except (ValueError, KeyError, TypeError):
        return 0
    return len(values) if isinstance(values, list) else 0


def _dead_frame(frame: BadFrame) -> dict[str, object]:
    """A dead-letter line for an acknowledged frame whose CP does not decode."""
    segment, site, reason, received = frame
    return {
        "reason": reason,
        "frame": {"site": site, "r": received, "segment": segment.decode("utf-8", "replace")},
        "segment_b64": base64.b64encode(segment).decode(),
    }


def _as_float(text: object) -> float:
    """A refused value as a float for its reason (NaN: no number at all)."""
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def _refused_frame(
    record: FrameRecord, frame: int, rows: list[int], kept: int
) -> dict[str, object]:
    """A dead-letter line for a frame some of whose readings (``rows``: indices into the
    record's readings) are implausible: the frame as received and what was left out."""
    c = record.columns
    refused = [
        {
            "parameter": c.p[j],
            "statistic": c.k[j],
            "value": str(c.v[j]),  # as sent (JSON has no Infinity)
            "flag": c.f[j],
            "reason": refusal_reason(c.p[j], c.k[j], str(c.v[j]), _as_float(c.v[j])),
        }
        for j in rows
    ]
    reasons = "; ".join(str(r["reason"]) for r in refused)
    segment = c.g[frame] if len(c.g) == len(c.n) else b""
    return {
        "reason": f"implausible: {reasons} ({kept} readings of the frame kept)",
        "frame": {
            "site": c.s[frame],
            "r": record.received,
            "segment": segment.decode("utf-8", "replace"),
        },
        "segment_b64": base64.b64encode(segment).decode(),
        "refused": refused,
    }


def screen(
    records: list[FrameRecord],
) -> tuple[list[FrameRecord], list[list[dict[str, object]]], int]:
    """The records without their implausible readings
    (:func:`~shanshui.ingest.readings.implausible_readings`: outside their parameter's
    plausibility bounds, the rule of :mod:`shanshui.formats.validity`), one dead-letter line
    per frame that had some (per record), and the readings left out.

    Vectorised over the batch (one Arrow/numpy pass over every reading); only a record with
    a refused reading is rebuilt, in Python. DESIGN §5: the frames were acknowledged, so a
    refused reading is never dropped: it goes to the dead-letter file with its frame as
    received, and the frame's other readings are stored (as :mod:`shanshui.ingest.salvage`
    keeps those of a frame with an unreadable entry).
    """
    p: list[str] = []
    k: list[str] = []
    v: list[object] = []
    for record in records:
        p += record.columns.p
        k += record.columns.k
        v += record.columns.v
    none: list[list[dict[str, object]]] = [[] for _ in records]
    if not v:
        return records, none, 0
    bad = implausible_readings(p, k, v)
    if not bad.any():
        return records, none, 0
    out = list(records)
    lines = none
    at = 0
    for i, record in enumerate(records):
        c = record.columns
        size = len(c.v)
        refused = np.flatnonzero(bad[at : at + size])
        at += size
        if not len(refused):
            continue
        of_frame = np.repeat(np.arange(len(c.n)), c.n)
        keep = np.ones(size, dtype=bool)
        keep[refused] = False
        kept = Columns()
        start = 0
        for f, n in enumerate(c.n):
            rows = [j for j in range(start, start + n) if keep[j]]
            start += n
            if rows:  # the frame's other readings are stored
                kept.p += [c.p[j] for j in rows]
                kept.k += [c.k[j] for j in rows]
                kept.v += [c.v[j] for j in rows]
                kept.f += [c.f[j] for j in rows]
                kept.frame(c.s[f], c.d[f], c.t[f], c.m[f], len(rows))
                if len(c.g) == len(c.n):
                    kept.g.append(c.g[f])
        for f in np.unique(of_frame[refused]).tolist():
            rows = [int(j) for j in refused if of_frame[j] == f]
            lines[i].append(_refused_frame(record, f, rows, int(c.n[f]) - len(rows)))
        out[i] = record._replace(columns=kept)
    return out, lines, int(bad.sum())


class JournalWriter:
    """Applies durable journal records to a store; see the module docstring."""

    def __init__(
        self,
        journal: Journal,
        committer: GroupCommitter,
        store: Store,
        metrics: GatewayMetrics,
        *,
        batch_records: int = 20_000,
        max_lag_records: int = 1_000_000,
        aggregate_every: float = 1.0,
        housekeeping: Callable[[], None] | None = None,
        step_every: float = 0.2,
    ) -> None:
        self.journal = journal
        self.committer = committer
        self.store = store
        self.metrics = metrics
        self.batch_records = batch_records
        self.max_lag_records = max_lag_records
        self.aggregate_every = aggregate_every
        #: Shortest interval between the starts of two partial batches [s].
        self.step_every = step_every
        self.housekeeping = housekeeping
        self.position: Position = journal.checkpoint()
        self.pending_records = sum(1 for _ in journal.pending())
        self.oldest_pending: float | None = None  # wall time [s] of the oldest unapplied
        self._known: set[str] | None = None
        #: Records before this position were expanded once: their bad frames are
        #: dead-lettered and their readings counted (a retried batch does not repeat it).
        self._expanded_to: Position = self.position
        self._room = asyncio.Event()
        self._room.set()
        self._stop = False
        self._last_aggregate = 0.0
        self._backoff = 0.0
        self.metrics.lag_records.set(self.pending_records)
        # the dead letters kept in the journal folder (all files), on /metrics
        self.metrics.watch_dead_letters(DeadLetterTally(journal.directory).usage)

    # -- the gateway side ---------------------------------------------------------------------
    async def commit(self, payloads: list[bytes]) -> None:
        """Journal ``payloads`` durably (waiting first if the writer is too far behind)."""
        while self.pending_records >= self.max_lag_records:
            self._room.clear()
            await self._room.wait()
        await self.committer.commit(payloads)
        self.pending_records += len(payloads)

    def lag(self) -> tuple[int, float]:
        """Journal records not yet in the store, and the age of the oldest [s]."""
        age = 0.0 if self.oldest_pending is None else max(0.0, time.time() - self.oldest_pending)
        return self.pending_records, age

    # -- the store side -----------------------------------------------------------------------
    def _ensure_parameters(self, table: pa.Table) -> None:
        if self._known is None:
            self._known = {p.code for p in self.store.parameters()}
        codes = set(table["parameter"].unique().to_pylist()) - self._known
        if codes:
            # a guess fills a gap only: a code defined meanwhile by another process (an
            # operator, a registration, another gateway) keeps its name and unit
            self.store.upsert_parameters((parameter_for(c) for c in sorted(codes)), replace=False)
            self._known |= codes

    def _write(self, payloads: list[Record]) -> int:
        """Write records; the readings stored (inserted or corrected: a resend is not)."""
        try:
            table = payload_table(payloads)
            # the device events of the records, written in the readings' transaction
            events = [e for p in payloads if isinstance(p, FrameRecord) for e in p.events]
            if table.num_rows == 0 and not events:
                return 0
            if table.num_rows:
                self._ensure_parameters(table)
            result = self.store.write_observations(table, source="hj212", events=events)
        except Exception as exc:
            # refused for its data (a record that does not decode, the store's own check, or
            # a driver's data error: a NUL byte PostgreSQL cannot hold), written again one
            # record at a time so that the others are stored; the store in trouble: raised,
            # and the step retried
            if not refused_for_data(exc) or len(payloads) == 1:
                raise
            return sum(self._write_one(p) for p in payloads)
        if result.events:  # new ones only: a replayed record's events are stored already
            self.metrics.events_stored.inc(result.events)
        if result.stale:
            # the store holds a later arrival of these keys (another gateway's correction, or
            # a replay after a crash): the later value stands, nothing else is done
            self.metrics.stale.inc(result.stale)
            LOG.warning(
                "readings not applied: the store holds values of the same keys that arrived"
                " later (by the gateways' clocks; hosts must keep them synchronised)",
                extra={"readings": result.stale},
            )
        return result.inserted + result.corrected

    def _apply(self, payloads: list[Record]) -> int:
        """Write a batch; a record the store refuses goes to the dead-letter file, whatever
        the batch size (a lone bad record must not stop the writer)."""
        if len(payloads) == 1:
            return self._write_one(payloads[0])
        return self._write(payloads)

    def _write_one(self, payload: Record) -> int:
        try:
            return self._write([payload])
        except Exception as exc:
            if not refused_for_data(exc):  # the store in trouble: the step is retried
                raise
            self._dead_letters([_dead_letter(payload, str(exc))], "record")
            LOG.error("journal record refused by the store", extra={"reason": str(exc)})
            return 0

    def _dead_letters(self, lines: list[dict[str, object]], kind: str) -> None:
        """Append dead-letter lines, durably (before the checkpoint moves past them), in
        the journal's rotated dead-letter files (:func:`append_dead_letters`)."""
        append_dead_letters(self.journal.directory, lines, max_bytes=self.journal.deadletter_bytes)
        self.metrics.dead_letters.labels(kind=kind).inc(len(lines))

    def _expand(self, payloads: list[bytes], afters: list[Position]) -> list[Record]:
        """Decode the frames of version 3 records (see the module docstring); the records
        as readings, for :meth:`_apply`."""
        out: list[Record] = []
        bad: list[BadFrame] = []
        readings = 0
        decoded: list[tuple[int, bool]] = []  # v3 records: index in out, first expansion
        for payload, after in zip(payloads, afters, strict=True):
            if payload[:1] != b"\x03":  # version 1 or 2: already readings, counted alike
                out.append(payload)
                if after > self._expanded_to:
                    readings += _readings_of_old(payload)
                continue
            try:
                expanded, bad_frames, n = expand_frames([payload])
            except ValueError:  # not a journal record: _apply dead-letters it whole
                out.append(payload)
                continue
            first = after > self._expanded_to
            decoded += [(len(out) + i, first) for i in range(len(expanded))]
            out += expanded
            if first:
                bad += bad_frames
                readings += n
        # Implausible readings (formats.validity's bounds) are left out of every write and
        # dead-lettered once, the first time their record is expanded (a retried batch
        # filters them again, deterministically: readings.unit_of, not the store).
        # Version 1 and 2 records (journaled as readings by earlier releases, replayed once
        # after an upgrade) are stored as they were accepted then.
        frames = [cast(FrameRecord, out[i]) for i, _ in decoded]
        screened, refused_lines, _ = screen(frames)
        implausible: list[dict[str, object]] = []
        refused = 0
        for (i, first), record, lines in zip(decoded, screened, refused_lines, strict=True):
            out[i] = record
            if first and lines:
                implausible += lines
                refused += sum(len(cast(list[object], line["refused"])) for line in lines)
        if implausible:
            self._dead_letters(implausible, "implausible")
            self.metrics.refused.labels(reason="implausible").inc(refused)
            LOG.error(
                "acknowledged readings outside their plausibility bounds were dead-lettered",
                extra={"readings": refused, "reason": implausible[0]["reason"]},
            )
        if bad:
            self._dead_letters([_dead_frame(f) for f in bad], "frame")
            LOG.error(
                "acknowledged frames whose CP does not decode were dead-lettered",
                extra={"frames": len(bad), "reason": bad[0][2]},
            )
        if readings:
            self.metrics.journaled.inc(readings)
        if afters:
            self._expanded_to = max(self._expanded_to, afters[-1])
        return out

    def count_ahead(self, deadline: float) -> int:
        """Decode the durable records past those already decoded, for their counts and
        dead letters only (blocking; run in a thread while the store is down): their readings
        are counted as journaled and their bad frames dead-lettered now (:meth:`_expand`,
        once per record); the store gets them when :meth:`step` applies them, decoded again.

        Stops when every durable record is decoded or past ``deadline``
        (:func:`time.monotonic` [s]), a batch at a time; returns the records decoded.
        """
        durable = self.committer.durable
        done = 0
        while self._expanded_to < durable and time.monotonic() < deadline:
            payloads, afters, _ = self._durable_batch(self._expanded_to, durable)
            if not payloads:
                break
            self._expand(payloads, afters)
            done += len(payloads)
        return done

    def _durable_batch(
        self, start: Position, durable: Position
    ) -> tuple[list[bytes], list[Position], bytes | None]:
        """The next batch of durable records from ``start``: at most :attr:`batch_records`
        records and about :data:`BATCH_BYTES`, their end positions, and the first durable
        record left for the next batch (None: the batch took all there was)."""
        payloads: list[bytes] = []
        afters: list[Position] = []
        size = 0
        if start < durable:
            for payload, after in self.journal.read_from(start, durable):
                if after > durable:
                    break
                if len(payloads) >= self.batch_records or size >= BATCH_BYTES:
                    return payloads, afters, payload
                payloads.append(payload)
                afters.append(after)
                size += len(payload)
        return payloads, afters, None

    def step(self) -> tuple[int, int]:
        """Apply up to :attr:`batch_records` durable records (blocking; run in a thread).

        Returns (records applied, readings stored: inserted or corrected).
        """
        durable = self.committer.durable
        payloads, afters, following = self._durable_batch(self.position, durable)
        if payloads:
            self.oldest_pending = received_of(payloads[0]) / 1e6
        records = self._expand(payloads, afters) if payloads else []
        rows = self._apply(records) if records else 0
        if payloads:
            end = afters[-1]
            self.journal.set_checkpoint(end)
            self.position = end
            self.oldest_pending = None if following is None else received_of(following) / 1e6
        elif self.position < durable:
            # no record up to the durable point (an empty newest segment, damaged bytes read
            # past and dead-lettered): the writer is there, so that a stop does not wait for
            # records that will never come (review 18 #6: serve took 30 s to stop and said
            # the writer did not finish). The durable point is a record boundary.
            self.position = durable
        try:
            self._aggregate()
            if self.housekeeping is not None:
                self.housekeeping()
        except (StoreError, OSError) as exc:  # retried at the next step; the data are in
            LOG.warning("aggregation or device notes deferred", extra={"error": str(exc)})
        return len(payloads), rows

    def _aggregate(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_aggregate < self.aggregate_every:
            return
        self._last_aggregate = now
        # Daily aggregates follow new and late data: the store marks the (site, day) pairs
        # each write touched; recompute them until the queue is empty.
        while self.store.recompute_daily() >= DIRTY_CHUNK:
            pass

    def _applied(self, records: int, rows: int) -> None:
        self.pending_records = max(0, self.pending_records - records)
        if self.position >= self.committer.durable:
            # every durable record is read: none pending, also one counted at its commit
            # and then skipped as damaged bytes, dead-lettered (review 18: the lag stayed
            # at 1 for good, and an alert on it fired until a restart)
            self.pending_records = 0
        if self.pending_records == 0:
            self.oldest_pending = None
        self.metrics.stored.inc(rows)
        self.metrics.lag_records.set(self.pending_records)
        self.metrics.lag_seconds.set(self.lag()[1])
        if self.pending_records < self.max_lag_records // 2:
            self._room.set()

    async def replay(self) -> int:
        """Apply every record left from a previous run; the records applied."""
        total = 0
        while self.position < self.committer.durable:
            records, rows = await asyncio.to_thread(self.step)
            self._applied(records, rows)
            total += records
            if not records:
                break
        return total

    async def run(self, poll: float = 0.02) -> None:
        """Apply records as they become durable until :meth:`stop`."""
        while True:
            if self._stop and self.position >= self.committer.durable:
                try:  # the last batches' days, whatever the interval
                    await asyncio.to_thread(self._aggregate, True)
                except (StoreError, OSError) as exc:
                    LOG.warning("final aggregation deferred", extra={"error": str(exc)})
                return
            started = time.monotonic()
            try:
                records, rows = await asyncio.to_thread(self.step)
                self._backoff = 0.0
            except Exception as exc:
                # StoreError/OSError: the database is down or the disk full; anything else is
                # a bug, logged with its traceback. Either way the records stay in the journal
                # and the step is retried, so an acknowledged reading is never dropped.
                self._backoff = min(5.0, max(0.2, self._backoff * 2))
                if isinstance(exc, JournalError):
                    # the journal's own fault (its checkpoint's disk full, a failed fsync: then
                    # serve stops), not the store's: not counted or logged as a store error
                    LOG.warning(
                        "journal step failed; retrying",
                        extra={"error": str(exc), "retry_in_s": self._backoff},
                    )
                else:
                    if not isinstance(exc, StoreError | OSError):
                        LOG.exception("journal writer step failed")
                    self.metrics.store_errors.inc()
                    LOG.warning(
                        "store write failed; retrying",
                        extra={"error": str(exc), "retry_in_s": self._backoff},
                    )
                self.metrics.lag_seconds.set(self.lag()[1])
                if self._stop and self._backoff >= 5.0:
                    return
                deadline = time.monotonic() + self._backoff
                try:  # the wait serves to count what was acknowledged meanwhile
                    await asyncio.to_thread(self.count_ahead, deadline)
                except Exception as ahead:  # counted later by step, which retries the same
                    LOG.warning("decoding ahead deferred", extra={"error": str(ahead)})
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                continue
            self._applied(records, rows)
            if records == 0:
                self.metrics.lag_seconds.set(self.lag()[1])
                await asyncio.sleep(poll)
            elif records < self.batch_records and not self._stop:
                # A partial batch: let the next one gather for at least ``step_every`` (one
                # store write and existence check per interval instead of one per few
                # records; the records are durable in the journal meanwhile).
                await asyncio.sleep(max(0.0, self.step_every - (time.monotonic() - started)))

    def stop(self) -> None:
        """Finish the records already durable, then return from :meth:`run`."""
        self._stop = True


__all__ = ["JournalWriter", "parameter_for"]
