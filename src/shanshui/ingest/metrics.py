"""The gateway's metrics (Prometheus text format) and structured logs (JSON lines).

Each :class:`GatewayMetrics` owns its own :class:`prometheus_client.CollectorRegistry`, so
several gateways (tests) live in one process. :func:`render` gives the text exposition
format 0.0.4 served on ``/metrics``.

Metric names::

    shanshui_gateway_connections_total            accepted TCP connections
    shanshui_gateway_connections_open             connections open now
    shanshui_gateway_connections_closed_total{reason}   why connections ended
    shanshui_gateway_frames_accepted_total{cn}    valid, authenticated frames handled
    shanshui_gateway_frames_rejected_total{reason}     bad bytes and refused frames
    shanshui_gateway_acks_total                   9014/9013 answers sent
    shanshui_gateway_observations_journaled_total readings made durable in the journal
                                                  (counted as the writer decodes them)
    shanshui_gateway_dead_letters_total{kind}     dead-letter lines: "frame" (acknowledged,
                                                  CP does not decode), "record" (refused),
                                                  "implausible" (a frame some of whose
                                                  readings lie outside their bounds)
    shanshui_gateway_observations_refused_total{reason}  acknowledged readings not stored
                                                  but dead-lettered: "implausible" (outside
                                                  the plausibility bounds of
                                                  shanshui.formats.validity)
    shanshui_gateway_observations_stale_total     readings not applied: the stored value of
                                                  the key arrived later (another gateway's)
    shanshui_gateway_dead_letter_files            dead-letter files kept in the journal folder
    shanshui_gateway_dead_letter_lines            their lines (all files, every run: never
                                                  deleted; see shanshui.ingest.journal)
    shanshui_gateway_dead_letter_bytes            their size [bytes]
    shanshui_gateway_observations_stored_total    readings written to the store
    shanshui_gateway_store_errors_total           failed store writes (retried; not the
                                                  journal's faults, logged apart)
    shanshui_gateway_journal_failed               1 once the journal failed (a failed fsync
                                                  or write): nothing more is acknowledged
                                                  and serve stops for a restart; else 0
    shanshui_gateway_journal_full                 1 while journal writes are refused for lack
                                                  of space (frames not acknowledged; retried)
    shanshui_gateway_journal_damaged_bytes        journal bytes found damaged and
                                                  dead-lettered by this process (bad records,
                                                  tails cut at open)
    shanshui_gateway_journal_missing_segments     segment numbers found missing at open
    shanshui_gateway_write_lag_records            journal records not yet in the store
    shanshui_gateway_write_lag_seconds            age of the oldest such record [s]
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

#: Rejection reasons besides the codec's (:data:`shanshui.hj212.REASONS`).
GATEWAY_REASONS: Final = (
    "unknown_device",  # MN not registered: listed as pending, not stored
    "pending_device",  # registered but awaiting an operator's approval
    "disabled_device",
    "bad_password",
    "no_mn",
    "no_site",  # the device is not attached to a site
    "no_datatime",  # a data upload without DataTime
    "future_datatime",  # a data upload labelled ahead of the clock (FUTURE_SLACK)
    "rate_limited",  # over the connection's frames-per-second budget
)

LOG = logging.getLogger("shanshui.ingest")


class GatewayMetrics:
    """Counters and gauges of one gateway process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "shanshui_gateway_"
        self.connections = Counter(p + "connections", "Accepted TCP connections", registry=r)
        self.open = Gauge(p + "connections_open", "Open TCP connections", registry=r)
        self.closed = Counter(
            p + "connections_closed", "Closed connections by reason", ["reason"], registry=r
        )
        self.accepted = Counter(
            p + "frames_accepted", "Valid authenticated frames by CN", ["cn"], registry=r
        )
        self.rejected = Counter(
            p + "frames_rejected", "Rejected frames and bytes by reason", ["reason"], registry=r
        )
        self.acks = Counter(p + "acks", "Answers (9013/9014) sent", registry=r)
        self.journaled = Counter(
            p + "observations_journaled", "Readings made durable in the journal", registry=r
        )
        self.stored = Counter(
            p + "observations_stored", "Readings written to the store", registry=r
        )
        self.events_stored = Counter(
            p + "device_events_stored",
            "Device events (state, restart, information, alarm, clock) written to the store",
            registry=r,
        )
        self.refused = Counter(
            p + "observations_refused",
            "Acknowledged readings dead-lettered instead of stored, by reason (implausible:"
            " outside their parameter's plausibility bounds)",
            ["reason"],
            registry=r,
        )
        self.refused.labels(reason="implausible")  # shown at 0 from the start
        self.stale = Counter(
            p + "observations_stale",
            "Readings not applied: the store holds another value of the same key that arrived"
            " later (by the arrival times the gateways stamp: their hosts' clocks must agree)",
            registry=r,
        )
        self.store_errors = Counter(p + "store_errors", "Failed store writes (retried)", registry=r)
        self.dead_letters = Counter(
            p + "dead_letters",
            "Dead-letter lines by kind (frame, record, implausible)",
            ["kind"],
            registry=r,
        )
        self.dead_letter_files = Gauge(
            p + "dead_letter_files", "Dead-letter files kept in the journal folder", registry=r
        )
        self.dead_letter_lines = Gauge(
            p + "dead_letter_lines", "Dead-letter lines kept (all files)", registry=r
        )
        self.dead_letter_bytes = Gauge(
            p + "dead_letter_bytes", "Dead-letter bytes kept (all files)", registry=r
        )
        self.recall_notes_dropped = Gauge(
            p + "recall_notes_dropped_total",
            "History-request notes the store refused alone and that were dropped (logged)",
            registry=r,
        )
        self.journal_failed = Gauge(
            p + "journal_failed",
            "1 once the journal failed (failed fsync or write): serve stops for a restart",
            registry=r,
        )
        self.journal_full = Gauge(
            p + "journal_full", "1 while journal writes are refused for lack of space", registry=r
        )
        self.journal_damaged_bytes = Gauge(
            p + "journal_damaged_bytes",
            "Journal bytes found damaged and dead-lettered by this process",
            registry=r,
        )
        self.journal_missing_segments = Gauge(
            p + "journal_missing_segments", "Journal segment numbers missing at open", registry=r
        )
        self.lag_records = Gauge(
            p + "write_lag_records", "Journal records not yet in the store", registry=r
        )
        self.lag_seconds = Gauge(
            p + "write_lag_seconds", "Age of the oldest journal record not in the store",
            registry=r,
        )  # fmt: skip
        # Cheap local tallies (the hot path increments plain ints; see :meth:`flush`).
        self._accepted: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._acks = 0

    def watch_dead_letters(self, usage: Callable[[], tuple[int, int, int]]) -> None:
        """Read the dead-letter gauges from ``usage`` (files, lines, bytes) once per scrape
        (:meth:`shanshui.ingest.journal.DeadLetterTally.usage`: a directory listing and a
        ``stat`` or two); the three gauges of one scrape share that reading."""
        seen: list[Any] = [-1.0, (0, 0, 0)]  # [monotonic time of the reading, the reading]

        def read(i: int) -> float:
            now = time.monotonic()
            if now - seen[0] > 0.5:  # one scrape renders the three gauges within this
                seen[:] = [now, usage()]
            return float(seen[1][i])

        self.dead_letter_files.set_function(lambda: read(0))
        self.dead_letter_lines.set_function(lambda: read(1))
        self.dead_letter_bytes.set_function(lambda: read(2))

    def watch_journal(
        self,
        failed: Callable[[], bool],
        full: Callable[[], bool],
        damaged_bytes: Callable[[], int],
        missing_segments: Callable[[], int],
    ) -> None:
        """Read the journal's state at each scrape (plain attributes of
        :class:`shanshui.ingest.journal.Journal` and its ``GroupCommitter``)."""
        self.journal_failed.set_function(lambda: float(failed()))
        self.journal_full.set_function(lambda: float(full()))
        self.journal_damaged_bytes.set_function(lambda: float(damaged_bytes()))
        self.journal_missing_segments.set_function(lambda: float(missing_segments()))

    def watch_recall_notes(self, dropped: Callable[[], int]) -> None:
        """Read the dropped history-request notes from ``dropped`` at each scrape
        (:attr:`shanshui.ingest.gateway.DeviceRegistry.dropped_notes`, a plain int)."""
        self.recall_notes_dropped.set_function(lambda: float(dropped()))

    # The per-frame counters are tallied in plain dicts and folded into the Prometheus
    # objects on scrape: a prometheus Counter.inc costs a lock per call.
    def accept(self, cn: str, n: int = 1) -> None:
        self._accepted[cn] = self._accepted.get(cn, 0) + n

    def reject(self, reason: str, n: int = 1) -> None:
        self._rejected[reason] = self._rejected.get(reason, 0) + n

    def ack(self, n: int = 1) -> None:
        self._acks += n

    def flush(self) -> None:
        """Fold the local tallies into the Prometheus counters."""
        acc, self._accepted = self._accepted, {}
        rej, self._rejected = self._rejected, {}
        for cn, n in acc.items():
            self.accepted.labels(cn=cn).inc(n)
        for reason, n in rej.items():
            self.rejected.labels(reason=reason).inc(n)
        if self._acks:
            self.acks.inc(self._acks)
            self._acks = 0

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        self.flush()
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current value of one sample (tests, benchmarks); 0 when absent."""
        self.flush()
        got = self.registry.get_sample_value(name, labels or None)
        return 0.0 if got is None else float(got)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    _SKIP: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
    }

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._SKIP:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_json_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Send ``shanshui`` logs to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("shanshui")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
