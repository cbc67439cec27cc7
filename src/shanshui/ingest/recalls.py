"""History requests (补数): which ranges the platform asks a data logger for, and the frames
that ask.

HJ 212-2017 Table C.1: the platform asks for a device's hourly (2061), minute (2051) or daily
(2031) history with ``BeginTime`` and ``EndTime``; the device answers 9011, uploads the
data (acknowledged and stored like any upload: a resend stores nothing twice) and ends with
9012. Requests wait in the store (:mod:`shanshui.store.recalls`) until the device sends on
a connection; the session sends them there (:func:`request_frames`).

Each request is followed to its end from the device's answers, which carry the QN it was
sent with (HJ 212-2017 §6.5; :class:`shanshui.ingest.gateway.DeviceRegistry` matches them):
its status (:func:`shanshui.store.recalls.recall_status`) goes waiting → sent → accepted
(9011 QnRtn=1) → done / no data / failed (9012 ExeRtn), or refused (QnRtn≠1), or back to
waiting to be asked again with a new QN (:data:`ANSWER_TIMEOUT`, a closed connection,
:data:`RETRY_QN_RTN`, :data:`RETRY_EXE_RTN`) until :data:`MAX_ATTEMPTS`, then unanswered.

Two things queue requests: an operator asking for a range (API and CLI, :func:`ranges`),
and the approval of a device that had been sending while unregistered
(:func:`on_approval`): its frames were refused, not acknowledged, so the logger still holds
them, and many loggers resend only a few times before giving up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from shanshui.hj212 import encode
from shanshui.hj212.replies import history_request
from shanshui.ingest.control import next_qn
from shanshui.store.api import Device
from shanshui.store.recalls import (
    MAX_RECALL_SPAN,
    Recall,
    check_recall,
    code_meaning,
    recall_status,
)

#: What the approval of a pending device asks for. CHOICE: the hourly data (2061): the
#: values the standards assess (GB 3095-2012 Table 4 hourly and daily means, the permit's
#: hourly limits); minute data can be asked for by an operator.
APPROVAL_CN: Final = "2061"
#: How far before the first refused frame the approval asks from. CHOICE: one hour, because
#: the first frame refused may be the record of the hour before it (DataTime is the start
#: of the hour, sent after it ends).
APPROVAL_LEAD: Final = timedelta(hours=1)


#: How long a sent request waits for its 9011 before it is asked again. CHOICE: 5 minutes.
#: HJ 212-2017 §6.5 has the device answer a request at once (9011 before any data) and sets
#: no number; a logger busy with a back-fill may read its socket late, and 5 minutes is far
#: longer than any answer seen in the wild while short enough for an operator waiting on it.
#: A request whose connection closed before its 9011 is asked again at once.
ANSWER_TIMEOUT: Final = timedelta(minutes=5)
#: How often a request is sent at most. CHOICE: 3 (HJ 212-2017 §6.5 leaves the retries to
#: the sender; three is the ``ReCount`` loggers ship with for their own uploads). After the
#: third attempt without a 9011 the request is ``unanswered``.
MAX_ATTEMPTS: Final = 3
#: How long the registry keeps a request the device accepted (9011 QnRtn=1) in memory to hear
#: its 9012. CHOICE: 6 hours, a month of minute data at the rate a logger uploads; after that
#: it stays ``accepted`` in the store (its data may well have come) and is not asked again.
EXECUTION_TIMEOUT: Final = timedelta(hours=6)
#: 9011 ``QnRtn`` codes (HJ 212-2017 Table 7) after which the request is sent again (with a
#: new QN, within :data:`MAX_ATTEMPTS`). CHOICE: only 9 (CRC wrong: the bytes were damaged on
#: the way). 2 (refused) is the device's decision; 3–8 (PW, MN, ST, Flag, QN, CN wrong) say
#: the request does not fit the device, and asking again the same would be refused the same;
#: 100 (unknown) tells nothing to act on: all final, ``refused``, for an operator to look at.
RETRY_QN_RTN: Final = frozenset({9})
#: 9012 ``ExeRtn`` codes (HJ 212-2017 Table 8) after which the request is sent again.
#: CHOICE: 2 (failed, reason unknown), 4 (timeout) and 5 (busy) may pass; 3 (bad command
#: condition) and 6 (fault) will not without someone acting, 100 (no data) is an answer:
#: final. 1 is done.
RETRY_EXE_RTN: Final = frozenset({2, 4, 5})


def ranges(
    mn: str,
    cn: str,
    begin: datetime,
    end: datetime,
    *,
    actor: str,
    reason: str,
    requested: datetime,
) -> list[Recall]:
    """Requests for ``[begin, end]``, split into consecutive ranges of at most
    :data:`~shanshui.store.recalls.MAX_RECALL_SPAN` (each checked: StoreInputError)."""
    out: list[Recall] = []
    start = begin
    while True:
        stop = min(end, start + MAX_RECALL_SPAN)
        out.append(check_recall(Recall(mn, cn, start, stop, requested, actor, reason)))
        if stop >= end:
            return out
        start = stop + timedelta(seconds=1)  # DataTime has whole seconds: no overlap


def on_approval(device: Device, *, actor: str, now: datetime) -> list[Recall]:
    """What approving ``device`` (as it was before: pending) asks it for: its hourly data
    from an hour before it was first seen (a month back at most) until ``now``; nothing for
    a device that was not pending or never seen."""
    if device.status != "pending" or device.first_seen is None:
        return []
    seen = device.first_seen.replace(minute=0, second=0, microsecond=0)
    # CHOICE: a month back at most (one request, MAX_RECALL_SPAN): a device pending longer
    # is asked for its last month; an operator can ask for more (ranges)
    begin = min(max(seen - APPROVAL_LEAD, now - MAX_RECALL_SPAN), now)
    return ranges(
        device.mn, APPROVAL_CN, begin, now, actor=actor, requested=now,
        reason="approved: what the device sent while it was unregistered",
    )  # fmt: skip


def request_frames(
    recalls: list[Recall], *, st: str, pw: str, mn: str, version: str | None
) -> list[bytes]:
    """The frames asking a device for ``recalls``, in its edition and with its system code
    and password as its own frame gave them (HJ 212-2017 Table C.1; 2005 as that edition
    writes requests: :func:`shanshui.hj212.replies.history_request`), each with its
    :attr:`~shanshui.store.recalls.Recall.qn` (the registry gives each attempt its own), else
    one from the process's QN source (:func:`shanshui.ingest.control.next_qn`)."""
    return [
        encode(
            history_request(
                cn=r.cn, st=st, pw=pw, mn=mn, begin=r.begin, end=r.end,
                version=version or "2017",
                qn=r.qn or next_qn(),  # answers tell them apart
            )
        )
        for r in recalls
    ]  # fmt: skip


#: The meaning given to a code HJ 212 does not define.
UNDEFINED: Final = "not defined by HJ 212"


def recall_json(recall: Recall) -> dict[str, object]:
    """A history request as JSON values (times UTC, ISO 8601), with its ``status``, the
    ``code`` that decided it and that code's ``meaning`` (:func:`shanshui.store.recalls.
    recall_status`), and the meanings of its QnRtn and ExeRtn (HJ 212-2017 Tables 7 and 8,
    :func:`shanshui.store.recalls.code_meaning`: a code beyond three digits is kept as -1,
    :data:`~shanshui.store.recalls.OUT_OF_RANGE`)."""
    status, code, meaning = recall_status(recall)
    out: dict[str, object] = {}
    for name, value in vars(recall).items():
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    out.update(status=status, code=code, meaning=meaning)
    out["qn_rtn_meaning"] = None if recall.qn_rtn is None else code_meaning("9011", recall.qn_rtn)
    out["exe_rtn_meaning"] = (
        None if recall.exe_rtn is None else code_meaning("9012", recall.exe_rtn)
    )
    return out
