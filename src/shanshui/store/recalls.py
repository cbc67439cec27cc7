"""History requests to devices in the store: the ``device_recall`` table (migration 0008)
behind :class:`RecallStore`.

A data logger keeps what it measured and uploads a time range of it again when the
platform asks (HJ 212-2017 Table C.1: 2031 daily, 2051 minute, 2061 hourly history, CP
``BeginTime``/``EndTime``). A request waits here until a gateway sees the device connected,
sends it (:mod:`shanshui.ingest.session`) and notes when (:meth:`RecallStore.recalls_sent`).
The device's uploads come back as ordinary data: stored once, a resend changes nothing.
:class:`RecallStore` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from shanshui.store.api import StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = ["MAX_RECALL_SPAN", "RECALL_CNS", "Recall", "RecallStore"]

#: The history a platform may ask for (HJ 212-2017 Table C.1): 2031 daily data, 2051 minute
#: data, 2061 hourly data.
RECALL_CNS: Final = frozenset({"2031", "2051", "2061"})
#: The longest range one request covers. CHOICE: 31 days, a month of minute data (44,640
#: frames per device); a longer gap is asked for in several requests, so that a device is
#: never asked to send more than it can in one session.
MAX_RECALL_SPAN: Final = timedelta(days=31)
#: The most requests one read returns.
MAX_RECALLS: Final = 10_000


@dataclass(frozen=True)
class Recall:
    """A history request: device ``mn`` is asked for its ``cn`` data from ``begin`` to
    ``end`` (inclusive, UTC); ``sent`` is when a gateway sent it (None: waiting)."""

    mn: str
    cn: str
    begin: datetime
    end: datetime
    requested: datetime
    actor: str
    reason: str
    sent: datetime | None = None

    @property
    def key(self) -> tuple[str, str, datetime, datetime]:
        return (self.mn, self.cn, self.begin, self.end)


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise StoreInputError(f"history request {what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _recall(row: tuple[Any, ...]) -> Recall:
    mn, cn, begin, end, requested, actor, reason, sent = row
    return Recall(
        mn, cn, begin.astimezone(UTC), end.astimezone(UTC), requested.astimezone(UTC),
        actor, reason, None if sent is None else sent.astimezone(UTC),
    )  # fmt: skip


def check_recall(recall: Recall) -> Recall:
    """``recall`` with its times in UTC; StoreInputError when it cannot be asked for."""
    if not recall.mn:
        raise StoreInputError("a history request needs the device's MN")
    if recall.cn not in RECALL_CNS:
        raise StoreInputError(
            f"CN {recall.cn!r} is not a history request; allowed: {sorted(RECALL_CNS)}"
        )
    begin, end = _utc(recall.begin, "begin"), _utc(recall.end, "end")
    if begin > end:
        raise StoreInputError("a history request's begin lies after its end")
    if end - begin > MAX_RECALL_SPAN:
        raise StoreInputError(
            f"a history request covers at most {MAX_RECALL_SPAN.days} days; split it"
        )
    if not recall.actor or not recall.reason:
        raise StoreInputError("a history request needs who asked and why")
    return Recall(
        recall.mn, recall.cn, begin, end, _utc(recall.requested, "requested time"),
        recall.actor, recall.reason,
    )  # fmt: skip


class RecallStore(SQLParts):
    """The history-request operations of :class:`~shanshui.store.Store` over SQL."""

    def request_recalls(self, recalls: Sequence[Recall]) -> int:
        """Queue history requests (audited, one entry each); the same request again waits
        to be sent again. Bad input raises StoreInputError and queues nothing."""
        checked = [check_recall(r) for r in recalls]
        audit = [
            {
                "changed": r.requested, "actor": r.actor, "action": "recall", "entity": "device",
                "site": None, "key": r.mn, "old_value": None, "reason": r.reason,
                "new_value": json.dumps(
                    {"cn": r.cn, "begin": r.begin.isoformat(), "end": r.end.isoformat()},
                    sort_keys=True,
                ),
            }
            for r in checked
        ]  # fmt: skip
        if not checked:
            return 0
        with self._session():
            for r in checked:
                self._exec(
                    "recall_insert",
                    {
                        "mn": r.mn, "cn": r.cn, "begin_time": r.begin, "end_time": r.end,
                        "requested": r.requested, "actor": r.actor, "reason": r.reason,
                    },
                )  # fmt: skip
            # one load of the audit stage per transaction: PostgreSQL's stage tables keep
            # their rows until the commit, so a second load would insert the first again
            self._load("stage_audit", audit)
            self._exec("audit_insert")
        return len(checked)

    def waiting_recalls(self, *, limit: int = MAX_RECALLS) -> list[Recall]:
        """The requests no gateway has sent yet, oldest first."""
        with self._session(write=False):
            return [_recall(r) for r in self._fetch("recalls_waiting", {"limit": int(limit)})]

    def device_recalls(self, mn: str, *, limit: int = 100) -> list[Recall]:
        """One device's requests, newest first."""
        if not 1 <= limit <= MAX_RECALLS:
            raise StoreInputError(f"limit must be 1 to {MAX_RECALLS}")
        with self._session(write=False):
            rows = self._fetch("recalls_of", {"mn": mn, "limit": int(limit)})
        return [_recall(r) for r in rows]

    def recalls_sent(
        self, keys: Sequence[tuple[str, str, datetime, datetime]], sent: datetime
    ) -> int:
        """Note that a gateway sent these requests (keys: :attr:`Recall.key`) at ``sent``;
        the number noted (a request sent already keeps its first time)."""
        at = _utc(sent, "sent time")
        n = 0
        with self._session():
            for mn, cn, begin, end in keys:
                n += self._exec(
                    "recall_sent",
                    {"mn": mn, "cn": cn, "begin_time": begin, "end_time": end, "sent": at},
                )
        return n
