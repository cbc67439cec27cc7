"""Keep the readings of an acknowledged upload whose CP holds a malformed entry.

A data logger's frame is acknowledged as soon as it is durable, before its CP is decoded
(:mod:`shanshui.ingest.session`). When the writer then finds one entry it cannot read — an
entry without ``=`` or with an empty key (HJ 212-2017 §6.3.3.2: every CP entry is
``key=value``) — the codec refuses the whole segment, as it must (:func:`shanshui.hj212.
parse_segment` decodes frames, it does not guess). The other entries of that frame are
readings the device measured and the platform promised to keep, so the writer retries the
segment without the entries that cannot be read, and dead-letters the frame as received
as well, so that the operator sees what was left out.

CHOICE: only entries that cannot be read at all are dropped, with every other entry of the
measurement they name (``a34004-FlagD``: the value of a34004 whose flag was lost goes too);
an unreadable entry that names no measurement (``garbage``, ``=5``) keeps the whole frame out,
since it may have been any value's flag. Anything else the codec
refuses (a bad header, a DataTime that is no date, control characters, text with
``//…//`` logs, whose separators cannot be told apart) is not salvaged: the frame is
dead-lettered whole, as before.
"""

from __future__ import annotations

from shanshui.hj212 import FrameError, Message, parse_segment


def salvage(segment: bytes) -> tuple[Message, list[str]] | None:
    """The message of ``segment`` without its unreadable CP entries and the other entries of
    their measurements, and the unreadable entries as sent; None when nothing was dropped,
    an unreadable entry names no measurement, or the rest does not decode either.

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
    groups: list[list[str]] = []
    dropped: list[str] = []
    lost: set[str] = set()  # codes an unreadable entry belonged to
    for group in cp.split(";"):
        entries = []
        for entry in group.split(","):
            if not entry.strip():
                continue
            key, sep, _value = entry.partition("=")
            if sep and key.strip():
                entries.append(entry)
                continue
            dropped.append(entry)
            code, dash, _suffix = (key if sep else entry).strip().partition("-")
            if not (dash and code):
                return None  # which value it was about cannot be told: keep nothing
            lost.add(code)
        groups.append(entries)
    if not dropped:
        return None
    # every entry of a code whose entry was lost goes too: a lost "-Flag=D" must not leave
    # its value standing as valid (HJ 212-2017 §6.6: D is a fault)
    kept = [
        ",".join(e for e in entries if e.partition("=")[0].strip().partition("-")[0] not in lost)
        for entries in groups
    ]
    kept = [g for g in kept if g]
    rebuilt = segment[: at + 5] + ";".join(kept).encode() + b"&&"
    try:
        return parse_segment(rebuilt), dropped
    except FrameError:
        return None
