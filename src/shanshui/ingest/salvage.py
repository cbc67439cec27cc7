"""Keep the readings of an acknowledged upload whose CP holds a malformed entry.

A data logger's frame is acknowledged as soon as it is durable, before its CP is decoded
(:mod:`shanshui.ingest.session`). When the writer then finds one entry it cannot read — an
entry without ``=`` or with an empty key (HJ 212-2017 §6.3.3.2: every CP entry is
``key=value``) — the codec refuses the whole segment, as it must (:func:`shanshui.hj212.
parse_segment` decodes frames, it does not guess). The other entries of that frame are
readings the device measured and the platform promised to keep, so the writer retries the
segment without the entries that cannot be read, and dead-letters the frame as received
as well, so that the operator sees what was left out.

CHOICE: only entries that cannot be read at all are dropped. Anything else the codec
refuses (a bad header, a DataTime that is no date, control characters, text with
``//…//`` logs, whose separators cannot be told apart) is not salvaged: the frame is
dead-lettered whole, as before.
"""

from __future__ import annotations

from shanshui.hj212 import FrameError, Message, parse_segment


def salvage(segment: bytes) -> tuple[Message, list[str]] | None:
    """The message of ``segment`` without its unreadable CP entries, and those entries as
    sent; None when nothing was dropped or the rest does not decode either.

    An entry is unreadable when it has text but no ``=``, or an ``=`` with an empty key
    (empty entries left by a trailing ``;`` or ``,`` are no error, the codec skips them).
    """
    at = segment.find(b"CP=&&")
    if at < 0 or not segment.endswith(b"&&") or len(segment) < at + 7:
        return None
    try:
        cp = segment[at + 5 : -2].decode()
    except UnicodeDecodeError:
        return None
    if "//" in cp:  # -Info logs: a separator inside them cannot be told from a real one
        return None
    kept: list[str] = []
    dropped: list[str] = []
    for group in cp.split(";"):
        entries = []
        for entry in group.split(","):
            if not entry.strip():
                continue
            key, sep, _value = entry.partition("=")
            if sep and key.strip():
                entries.append(entry)
            else:
                dropped.append(entry)
        if entries:
            kept.append(",".join(entries))
    if not dropped:
        return None
    rebuilt = segment[: at + 5] + ";".join(kept).encode() + b"&&"
    try:
        return parse_segment(rebuilt), dropped
    except FrameError:
        return None
