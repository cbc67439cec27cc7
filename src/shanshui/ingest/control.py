"""What the platform answers a device, the QNs of its own requests, and the device's answer
codes: the control side of an HJ 212 connection (:class:`shanshui.ingest.session.Session`
uses it; no sockets, no state but the process's QN source).

- :func:`answers`, :func:`ack_frame`, :func:`head_ack`: 9013/9014 to a device's frame
  (HJ 212-2017 §6.5).
- :func:`next_qn`: the one source of the QNs the platform sends in its requests (1012 clock
  settings, 2031/2051/2061 history requests). HJ 212-2017 §6.3.2/§6.5: the QN identifies a
  request and the device's 9011/9012 echo it, so no two requests may share one.
- :func:`answer_code`: a 9011 ``QnRtn`` or 9012 ``ExeRtn`` as a number, strictly.
- :func:`valid_qn`: whether a QN found inside CP (HJ/T 212-2005) may be echoed.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Final

from shanshui.hj212 import CST, EncodeError, Message, encode, replies
from shanshui.hj212.replies import make_qn
from shanshui.hj212.scan import frame
from shanshui.store.recalls import OUT_OF_RANGE

#: Answers the platform never answers (HJ 212-2017 §6.5: 9011 请求应答, 9012 执行结果,
#: 9013 通知应答, 9014 数据应答).
ANSWERS: Final = frozenset(("9011", "9012", "9013", "9014"))
#: Notices answered with 9013 (HJ 212-2017 Table C.1: 1013 现场机时间校准请求; HJ/T
#: 212-2005: 2072 报警事件).
NOTICES: Final = frozenset(("1013", "2072"))
#: The device's answers to the platform's requests (HJ 212-2017 §6.5: 9011 请求应答 with
#: QnRtn, 9012 执行结果 with ExeRtn), matched to the requests sent.
RESULTS: Final = frozenset(("9011", "9012"))
#: System interaction (HJ 212-2017 Table 5: 91 系统交互): the ST of answers, not a station's.
ST_SYSTEM: Final = "91"
#: Edition by the Flag's version bits 2–7 (HJ 212-2017 Table 4 note; HJ 212-2025), as
#: :attr:`shanshui.hj212.Message.version` reads them.
_VERSIONS: Final = {0: "2005", 1: "2017", 2: "2025"}
#: The largest answer code read as a code. HJ 212-2017 Tables 7 and 8 define 1–9 and 100
#: (HJ/T 212-2005: 1–3, 100): CHOICE: any whole number of at most three digits (0–999) is
#: kept as the device sent it (one the standard does not define shows "not defined by HJ
#: 212"); a longer one is no code of the standard at all and is kept as
#: :data:`shanshui.store.recalls.OUT_OF_RANGE` (-1), never as its digits (it need not even
#: fit the store's integer column).
MAX_CODE: Final = 999
#: Longest QN echoed (the codec's header rule, :mod:`shanshui.hj212.segment`: 17 digits
#: ``YYYYMMDDhhmmsszzz`` in the standard, 13-digit epoch-ms QNs occur; 1–20 digits).
MAX_QN_DIGITS: Final = 20


def version_of(flag: int | None) -> str | None:
    """The edition a Flag says (no Flag: 2005), as :attr:`Message.version`."""
    return "2005" if flag is None else _VERSIONS.get(flag >> 2)


def _ascii_digits(text: str) -> bool:
    # str.isdigit alone accepts '²', '①' and full-width digits, which int() refuses or reads
    return text.isascii() and text.isdigit()


def valid_qn(qn: object) -> bool:
    """Whether ``qn`` is a QN the codec writes in a header: 1–:data:`MAX_QN_DIGITS` ASCII
    digits (HJ 212-2017 Table 4: ``YYYYMMDDhhmmsszzz``)."""
    return isinstance(qn, str) and 0 < len(qn) <= MAX_QN_DIGITS and _ascii_digits(qn)


def answer_code(raw: object) -> int | None:
    """A 9011 ``QnRtn`` or 9012 ``ExeRtn`` (HJ 212-2017 Tables 7 and 8) as a number: ASCII
    digits only (surrounding blanks ignored); None when missing or not a whole number
    (``1.0``, ``-1``, ``²``, empty: an unreadable answer); :data:`~shanshui.store.recalls.
    OUT_OF_RANGE` when it has more than three digits (see :data:`MAX_CODE`)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or not _ascii_digits(text):
        return None
    if len(text) > 9:  # more than any int32 and than MAX_CODE; int() of it is not needed
        return OUT_OF_RANGE
    code = int(text)
    return code if code <= MAX_CODE else OUT_OF_RANGE


class _QnSource:
    """The process's QNs: each one of the time it is asked for, and at least 1 ms after the
    last one handed out (thread-safe), so no two are ever the same in a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: datetime | None = None

    def __call__(self, now: datetime | None = None) -> str:
        at = (now or datetime.now(CST)).astimezone(CST)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # the QN's resolution
        with self._lock:
            if self._last is not None and at <= self._last:
                # CHOICE: bump the millisecond (HJ 212-2017 Table 4 gives the QN ms
                # resolution); a burst runs ahead of the clock by at most its size in ms
                at = self._last + timedelta(milliseconds=1)
            self._last = at
            return make_qn(at)


#: The one QN source of the platform's requests (HJ 212-2017 §6.3.2: the QN identifies the
#: request; the device's 9011/9012 echo it): ``next_qn()`` or ``next_qn(now)`` (aware).
next_qn: Final = _QnSource()


def ack_frame(message: Message) -> bytes:
    """The 9014 data answer to ``message`` in its edition (HJ 212-2017 §6.5.1, Table C.24).

    Same bytes as :func:`shanshui.hj212.replies.data_ack` (the tests check it): 2017/2025
    ``QN=<its QN>;ST=91;CN=9014;PW;MN;Flag=<version bits, A=0>;CP=&&&&`` — Flag 4 for 2017,
    8 for 2025 — written directly, because building and re-parsing a :class:`Message` per
    acknowledgement would cost as much as decoding the upload. 2005 (no Flag or version
    bits 0): ``ST=91;CN=9014;CP=&&QN=<qn>;CN=<acknowledged CN>&&`` via the codec.
    """
    version_bits = (message.flag or 0) & 0xFC
    if version_bits == 0 or message.qn is None:
        return encode(replies.data_ack(message))
    # the header is ASCII in every encoding (parse_fields refuses anything else there), so
    # the answer's bytes are the same in UTF-8 and GBK
    return head_ack(message.qn, message.pw, message.mn, version_bits)


#: ``;ST=91;CN=9014;PW=…;MN=…;Flag=…;CP=&&&&`` by (PW, MN, version bits): the same for
#: every answer to a device (bounded: cleared when full).
_ACK_TAILS: dict[tuple[str | None, str | None, int], str] = {}


def answers(message: Message) -> list[bytes]:
    """What the platform sends back (:func:`shanshui.hj212.replies.platform_replies`):
    nothing unless Flag bit A is set, never anything to an answer (9011–9014) or without a
    QN; 9013 to a notice (1013, 2072), 9014 to everything else (one per sub-packet).

    A 2005-layout notice whose QN travels inside CP (``ST=91;CN=1013;…;Flag=1;CP=&&QN=…&&``,
    reference vector v65: HJ/T 212-2005 puts the QN of answers there) gets its 9013 in the
    2005 layout, that QN inside CP (:func:`shanshui.hj212.replies.notice_ack`), only when
    that QN is one the codec writes (:func:`valid_qn`); otherwise nothing (the caller counts
    it): device input never makes this raise."""
    if (
        message.cn in NOTICES
        and message.ack_required
        and message.qn is None
        and version_of(message.flag) == "2005"
    ):
        if not valid_qn(message.ref_qn):
            return []
        try:
            return [encode(replies.notice_ack(message.replace(qn=message.ref_qn)))]
        except EncodeError:  # e.g. a PW or MN the codec would not write back
            return []
    if not message.ack_required or message.cn in ANSWERS or message.qn is None:
        return []
    if message.cn in NOTICES:
        return [encode(m) for m in replies.platform_replies(message)]
    return [ack_frame(message)]


def head_ack(qn: str, pw: str | None, mn: str | None, version_bits: int) -> bytes:
    """The 9014 of a 2017/2025 upload from its header fields alone, ASCII text (the bytes
    of :func:`ack_frame`, HJ 212-2017 Table C.24)."""
    key = (pw, mn, version_bits)
    tail = _ACK_TAILS.get(key)
    if tail is None:
        parts = ["ST=91", "CN=9014"]
        if pw is not None:
            parts.append(f"PW={pw}")
        if mn is not None:
            parts.append(f"MN={mn}")
        parts.append(f"Flag={version_bits}")
        tail = ";" + ";".join(parts) + ";CP=&&&&"
        if len(_ACK_TAILS) >= 65536:
            _ACK_TAILS.clear()
        _ACK_TAILS[key] = tail
    return frame(("QN=" + qn + tail).encode())
