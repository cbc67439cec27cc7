"""History requests (补数): which ranges the platform asks a data logger for, and the frames
that ask.

HJ 212-2017 Table C.1: the platform asks for a device's hourly (2061), minute (2051) or daily
(2031) history with ``BeginTime`` and ``EndTime``; the device answers 9011, uploads the
data (acknowledged and stored like any upload: a resend stores nothing twice) and ends with
9012. Requests wait in the store (:mod:`shanshui.store.recalls`) until the device sends on
a connection; the session sends them there (:func:`request_frames`).

Two things queue requests: an operator asking for a range (API and CLI, :func:`ranges`),
and the approval of a device that had been sending while unregistered
(:func:`on_approval`): its frames were refused, not acknowledged, so the logger still holds
them, and many loggers resend only a few times before giving up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from shanshui.hj212 import CST, encode
from shanshui.hj212.replies import history_request, make_qn
from shanshui.store.api import Device
from shanshui.store.recalls import MAX_RECALL_SPAN, Recall, check_recall

#: What the approval of a pending device asks for. CHOICE: the hourly data (2061): the
#: values the standards assess (GB 3095-2012 Table 4 hourly and daily means, the permit's
#: hourly limits); minute data can be asked for by an operator.
APPROVAL_CN: Final = "2061"
#: How far before the first refused frame the approval asks from. CHOICE: one hour, because
#: the first frame refused may be the record of the hour before it (DataTime is the start
#: of the hour, sent after it ends).
APPROVAL_LEAD: Final = timedelta(hours=1)


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
    writes requests: :func:`shanshui.hj212.replies.history_request`)."""
    now = datetime.now(CST)
    return [
        encode(
            history_request(
                cn=r.cn, st=st, pw=pw, mn=mn, begin=r.begin, end=r.end,
                version=version or "2017",
                qn=make_qn(now + timedelta(milliseconds=i)),  # the answers tell them apart
            )
        )
        for i, r in enumerate(recalls)
    ]  # fmt: skip
