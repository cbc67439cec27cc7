"""History requests to devices in the store: the ``device_recall`` table (migrations 0008,
0009) behind :class:`RecallStore`, and the status of a request (:func:`recall_status`).

A data logger keeps what it measured and uploads a time range of it again when the
platform asks (HJ 212-2017 Table C.1: 2031 daily, 2051 minute, 2061 hourly history, CP
``BeginTime``/``EndTime``). A request waits here until a gateway sees the device connected,
sends it (:mod:`shanshui.ingest.session`) and notes when and with which QN; the device's
9011 and 9012 answers, which carry that QN, are noted on it too
(:meth:`RecallStore.recall_notes`, written in batches by the gateway's registry). The
device's uploads come back as ordinary data: stored once, a resend changes nothing.
:class:`RecallStore` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from shanshui.hj212.codes import EXE_RTN, QN_RTN
from shanshui.store.api import StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = [
    "MAX_RECALL_SPAN",
    "OUT_OF_RANGE",
    "RECALL_CNS",
    "RECALL_NOTES",
    "RECALL_STATUSES",
    "Recall",
    "RecallStore",
    "code_meaning",
    "recall_status",
]

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
    ``end`` (inclusive, UTC); ``sent`` is when a gateway last sent it (None: waiting).

    What the device answered (migration 0009): ``qn`` the QN of the last attempt (its answers
    carry it, HJ 212-2017 §6.5), ``attempts`` how many times it was sent, ``answered`` and
    ``qn_rtn`` when its 9011 came and its QnRtn (HJ 212-2017 Table 7), ``executed`` and
    ``exe_rtn`` when its 9012 came and its ExeRtn (Table 8), ``gave_up`` when the gateway
    stopped asking. :func:`recall_status` reads them.
    """

    mn: str
    cn: str
    begin: datetime
    end: datetime
    requested: datetime
    actor: str
    reason: str
    sent: datetime | None = None
    qn: str | None = None
    attempts: int = 0
    answered: datetime | None = None
    qn_rtn: int | None = None
    executed: datetime | None = None
    exe_rtn: int | None = None
    gave_up: datetime | None = None

    @property
    def key(self) -> tuple[str, str, datetime, datetime]:
        return (self.mn, self.cn, self.begin, self.end)

    @property
    def status(self) -> str:
        """:func:`recall_status` of this request."""
        return recall_status(self)[0]


#: The status of a history request, derived from its columns by :func:`recall_status` (the
#: one place), with what it means. The codes are the device's answers to the request
#: (HJ 212-2017 §6.5: 9011 请求应答 with ``QnRtn``, Table 7; 9012 执行结果 with ``ExeRtn``,
#: Table 8; HJ/T 212-2005 defines QnRtn 1–3 and ExeRtn 1, 2, 100).
#:
#: ============ ====================================================================
#: waiting      not sent yet, or to be sent again (attempts says how often it was)
#: sent         sent to the device, no 9011 yet
#: accepted     9011 QnRtn=1 (准备执行请求): the device is sending, no 9012 yet
#: refused      9011 QnRtn≠1 (2 请求被拒绝, 3 PW 错误, … 100 未知错误), final
#: done         9012 ExeRtn=1 (执行成功)
#: no data      9012 ExeRtn=100 (没有数据): the device holds nothing in the range
#: failed       9012 ExeRtn other (2 失败, 3 命令请求条件错误, 4 超时, 5 系统繁忙, 6 系统故障)
#: incomplete   the gateway gave up: 9011 QnRtn=1 but no 9012 after the last attempt
#: unanswered   the gateway gave up: no readable 9011 after the last attempt
#: ============ ====================================================================
#:
#: A code of more than three digits (no code of HJ 212) is kept as :data:`OUT_OF_RANGE`.
RECALL_STATUSES: Final[dict[str, str]] = {
    "waiting": "not sent yet, or waiting to be sent again",
    "sent": "sent to the device, no 9011 request answer yet",
    "accepted": "the device answered 9011 QnRtn=1 (ready) and has not sent its 9012 yet",
    "refused": "the device answered 9011 with QnRtn other than 1",
    "done": "the device answered 9012 ExeRtn=1 (success)",
    "no data": "the device answered 9012 ExeRtn=100 (no data in the range)",
    "failed": "the device answered 9012 with ExeRtn other than 1 and 100",
    "incomplete": (
        "the device answered 9011 QnRtn=1 (ready) but no 9012 came after the last attempt "
        "(its connection closed or it sent an unreadable ExeRtn); the gateway gave up, some "
        "of the data may have come"
    ),
    "unanswered": "no readable 9011 came after the last attempt; the gateway gave up",
}

#: The code kept for a 9011 QnRtn or 9012 ExeRtn beyond any code HJ 212 defines: more than
#: three digits (HJ 212-2017 Tables 7 and 8 stop at 100; :data:`shanshui.ingest.control.
#: MAX_CODE`). CHOICE: stored as -1 (a device cannot send it: a minus sign is no code), so
#: that a huge number neither overflows the integer column nor shows as if it meant
#: something; shown as code -1 with the meaning :data:`OUT_OF_RANGE_MEANING`. Like any code
#: other than 1 it is final: ``refused`` (9011) or ``failed`` (9012).
OUT_OF_RANGE: Final = -1
OUT_OF_RANGE_MEANING: Final = "beyond any code HJ 212 defines (more than three digits)"


def recall_status(recall: Recall) -> tuple[str, int | None, str | None]:
    """The status of ``recall`` (one of :data:`RECALL_STATUSES`), with the code that decided
    it (QnRtn or ExeRtn, None for waiting/sent/unanswered) and that code's meaning
    (:func:`code_meaning`:
    :data:`shanshui.hj212.codes.QN_RTN`, :data:`~shanshui.hj212.codes.EXE_RTN`; a code the
    standard does not define: ``"not defined by HJ 212"``).

    Order (HJ 212-2017 §6.5: 9011 then the data then 9012): a request waiting to be sent
    (again) is ``waiting`` whatever its last attempt's answers; else the 9012 decides when it
    came (1 done, 100 no data, other failed); else a 9011 with QnRtn≠1 (refused, kept even
    when the gateway gave up after a code worth retrying); else, when the gateway gave up,
    ``incomplete`` after a 9011 QnRtn=1 and ``unanswered`` without one; else 9011 QnRtn=1
    accepted; else sent.
    """
    if recall.sent is None and recall.gave_up is None:
        return ("waiting", None, None)
    if recall.exe_rtn is not None:
        code = recall.exe_rtn
        status = "done" if code == 1 else "no data" if code == 100 else "failed"
        return (status, code, code_meaning("9012", code))
    if recall.qn_rtn is not None and recall.qn_rtn != 1:
        return ("refused", recall.qn_rtn, code_meaning("9011", recall.qn_rtn))
    if recall.gave_up is not None:
        if recall.qn_rtn == 1:
            return ("incomplete", 1, QN_RTN[1])
        return ("unanswered", None, None)
    if recall.qn_rtn == 1:
        return ("accepted", 1, QN_RTN[1])
    return ("sent", None, None)


_UNDEFINED: Final = "not defined by HJ 212"


def code_meaning(cn: str, code: int) -> str:
    """What ``code`` means as the QnRtn of a 9011 (``cn="9011"``, HJ 212-2017 Table 7) or
    the ExeRtn of a 9012 (Table 8): the standard's words, ``"not defined by HJ 212"``, or
    :data:`OUT_OF_RANGE_MEANING`."""
    if code == OUT_OF_RANGE:
        return OUT_OF_RANGE_MEANING
    return (QN_RTN if cn == "9011" else EXE_RTN).get(code, _UNDEFINED)


#: The notes a gateway writes on a request (:meth:`RecallStore.recall_notes`), each a query
#: ``queries/recall_<note>.sql`` taking the request's key (mn, cn, begin_time, end_time), its
#: ``qn`` and, as the note needs, ``at`` and ``code``.
RECALL_NOTES: Final = frozenset({"asked", "answered", "executed", "again", "give_up", "release"})


#: The codes worth another try a note takes when it is given none (``retry_qn_rtn``,
#: ``retry_exe_rtn``: codes as ``,9,``).
_NO_RETRY: Final = {"retry_qn_rtn": "", "retry_exe_rtn": ""}


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise StoreInputError(f"history request {what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _at(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _recall(row: tuple[Any, ...]) -> Recall:
    mn, cn, begin, end, requested, actor, reason, sent = row[:8]
    qn, attempts, answered, qn_rtn, executed, exe_rtn, gave_up = row[8:]
    return Recall(
        mn, cn, begin.astimezone(UTC), end.astimezone(UTC), requested.astimezone(UTC),
        actor, reason, _at(sent), qn, int(attempts), _at(answered),
        None if qn_rtn is None else int(qn_rtn), _at(executed),
        None if exe_rtn is None else int(exe_rtn), _at(gave_up),
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
            # the audit entries of every request in one load of the stage, one statement
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

    def recall_notes(self, notes: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Write a gateway's notes on requests, in order, in one transaction: each
        ``(note, params)`` with ``note`` in :data:`RECALL_NOTES` (asked: sent with a new QN;
        answered: its 9011; executed: its 9012; again: waits again; give_up; release: waits
        again without spending an attempt, the gateway shut down) and ``params`` the
        request's ``mn``, ``cn``, ``begin_time``, ``end_time``, ``qn`` and as needed ``at``
        (aware), ``code``, ``retry_qn_rtn`` and ``retry_exe_rtn``. The number of rows changed
        (a note about a request asked anew, ended or given up meanwhile changes nothing).

        DESIGN (several gateways on one store, DESIGN §6): the gateway matched an answer to
        its request by the QN it sent (HJ 212-2017 §6.5); the store notes it by the request's
        key, not by the QN in the row, which may be another gateway's attempt of the same
        request (a gateway whose cache was stale sends it again; its ``asked`` changes
        nothing). So the device's answers count whichever gateway sent the request. The
        notes that ask again (again, give_up, release) change a request only while no final
        answer of the device is stored (no ExeRtn, or one worth retrying; no QnRtn, 1, or one
        worth retrying): a late close of another gateway's connection cannot reopen a
        request the device ended."""
        for note, _ in notes:
            if note not in RECALL_NOTES:
                raise StoreInputError(f"unknown history-request note {note!r}")
        n = 0
        if not notes:
            return 0
        with self._session():
            for note, params in notes:
                # without them, no code counts as worth another try (the gateway passes its
                # policy's, shanshui.ingest.recalls)
                n += self._exec(f"recall_{note}", {**_NO_RETRY, **params})
        return n

    def recalls_overdue(self, cutoff: datetime, *, max_attempts: int, at: datetime) -> int:
        """Requests sent before ``cutoff`` and not answered with a 9011 wait again while they
        have attempts left (fewer than ``max_attempts``) and are given up at ``at``
        otherwise; the number changed. Run by the gateways (a gateway that restarted forgot
        what it sent)."""
        params = {"cutoff": _utc(cutoff, "cutoff"), "max_attempts": int(max_attempts)}
        with self._session():
            n = self._exec("recall_overdue_give_up", {**params, "at": _utc(at, "time")})
            n += self._exec("recall_overdue_again", params)
        return n
