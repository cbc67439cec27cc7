"""Builders for the messages the platform and devices exchange (HJ 212-2017 §7, Appendix C;
HJ/T 212-2005 Appendix C).

Answers are written in the edition of the message they answer: the 2017 layout (header
``QN`` echoed, ``ST=91``, ``Flag`` = the sender's version bits without A/D) for 2017 and
2025 (Flag version bits 1 and 2), the 2005 layout (the answered ``QN`` inside CP) for 2005.
Answers are never answered (:func:`platform_replies` returns nothing for 9011–9014).
The platform's history requests (2031/2041/2051/2061 with ``BeginTime``/``EndTime``) are
written in the device's edition by :func:`history_request`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from shanshui.hj212.encode import encode
from shanshui.hj212.errors import EncodeError, FrameError
from shanshui.hj212.message import CST, Message, parse_segment

#: Answer command codes (HJ 212-2017 Table C.1/C.11/C.24): 9011 request answer, 9012
#: execution result, 9013 notification answer, 9014 data answer.
ANSWER_CNS: Final[frozenset[str]] = frozenset(("9011", "9012", "9013", "9014"))
#: Notices a platform answers with 9013 rather than 9014: 1013 clock-calibration request
#: (HJ 212-2017 Table C.3), 2072 alarm event (HJ/T 212-2005).
NOTICE_CNS: Final[frozenset[str]] = frozenset(("1013", "2072"))
#: Flag version bits by edition (HJ 212-2017 Table 4; HJ 212-2025).
VERSION_BITS: Final[Mapping[str, int]] = {"2005": 0, "2017": 1, "2025": 2}


def make_qn(when: datetime) -> str:
    """``QN`` for a moment: ``YYYYMMDDhhmmsszzz`` [ms] (HJ 212-2017 Table 4).

    Aware datetimes are converted to Beijing time (:data:`~shanshui.hj212.CST`).
    """
    if when.tzinfo is not None:
        when = when.astimezone(CST)
    return when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond // 1000:03d}"


def _answer_flag(message: Message) -> int | None:
    """The Flag of an answer: the version bits of ``message``, A = D = 0; 2005 → ``None``."""
    if message.flag is None or _is_2005(message):
        return None
    return message.flag & ~0b11


def _is_2005(message: Message) -> bool:
    return message.flag is None or message.flag >> 2 == 0


def data_ack(upload: Message) -> Message:
    """9014 data answer to an upload (one per sub-packet: each carries its own QN).

    2017/2025: ``QN=<upload QN>;ST=91;CN=9014;PW=<PW>;MN=<MN>;Flag=4|8;CP=&&&&``
    (HJ 212-2017 Table C.24, vector v08/v14). 2005: ``ST=91;CN=9014;CP=&&QN=<QN>;CN=<CN>&&``
    (HJ/T 212-2005 Appendix C, vector v20).

    Raises
    ------
    EncodeError
        ``upload`` is itself an answer, or has no QN to acknowledge.
    """
    _check_answerable(upload)
    if _is_2005(upload):
        return Message.build(st="91", cn="9014", fields={"QN": upload.qn, "CN": upload.cn})
    return Message.build(
        qn=upload.qn, st="91", cn="9014", pw=upload.pw, mn=upload.mn, flag=_answer_flag(upload)
    )


def notice_ack(notice: Message) -> Message:
    """9013 notification answer (to 1013, 2072, or the platform's 2012/2022).

    2017: ``QN=<QN>;ST=91;CN=9013;PW;MN;Flag=4;CP=&&&&`` (HJ 212-2017 Table C.11, v06).
    2005 (choice: the layout of the 2005 9012, which the standard shows):
    ``ST=91;CN=9013;PW;MN;CP=&&QN=<QN>&&``.
    """
    return _answer(notice, "9013", {})


def request_ack(request: Message, qn_rtn: int = 1) -> Message:
    """9011 request answer (device → platform), ``QnRtn``: 1 ready, 2 refused, 3 PW, 4 MN,
    5 ST, 6 Flag, 7 QN, 8 CN, 9 CRC, 100 unknown (HJ 212-2017 Table 7; 2005 has 1–3).

    2017: ``QN;ST=91;CN=9011;PW;MN;Flag=4;CP=&&QnRtn=1&&`` (v03). 2005:
    ``ST=91;CN=9011;PW;MN;Flag=0;CP=&&QN=…;QnRtn=1&&`` (HJ/T 212-2005 Appendix C, v18).
    """
    return _answer(request, "9011", {"QnRtn": qn_rtn}, flag_2005=0)


def execution_result(request: Message, exe_rtn: int = 1) -> Message:
    """9012 execution result (device → platform), ``ExeRtn``: 1 success, 2 failed,
    3 bad condition, 4 timeout, 5 busy, 6 fault, 100 no data (HJ 212-2017 Table 8).

    2017: ``QN;ST=91;CN=9012;PW;MN;Flag=4;CP=&&ExeRtn=1&&`` (v04). 2005:
    ``ST=91;CN=9012;PW;MN;CP=&&QN=…;ExeRtn=1&&`` (v19).
    """
    return _answer(request, "9012", {"ExeRtn": exe_rtn})


def _answer(
    message: Message, cn: str, fields: dict[str, object], flag_2005: int | None = None
) -> Message:
    """An answer (9011/9012/9013) to ``message`` in its edition, with PW and MN echoed.

    2017/2025: the answered QN in the header, ``Flag`` = its version bits. 2005: no QN in the
    header but ``QN=…`` first in CP, and ``Flag`` only where the standard shows one
    (``flag_2005``: the 2005 9011 carries ``Flag=0``, its 9012 none).
    """
    _check_answerable(message)
    if _is_2005(message):
        return Message.build(
            st="91", cn=cn, pw=message.pw, mn=message.mn, flag=flag_2005,
            fields={"QN": message.qn, **fields},
        )  # fmt: skip
    return Message.build(
        qn=message.qn, st="91", cn=cn, pw=message.pw, mn=message.mn,
        flag=_answer_flag(message), fields=fields or None,
    )  # fmt: skip


def _check_answerable(message: Message) -> None:
    if message.cn in ANSWER_CNS:
        raise EncodeError(f"CN={message.cn} is an answer; answers are never answered")
    if message.qn is None:
        raise EncodeError(f"CN={message.cn} has no QN to answer")


# --------------------------------------------------------------------------- requests
#: The platform's history requests with ``BeginTime``/``EndTime`` (HJ 212-2017 Table C.1:
#: 2031 取污染物日历史数据, 2041 取设施运行时间日历史数据, 2051 取污染物分钟数据,
#: 2061 取污染物小时数据; HJ/T 212-2005 likewise). The device answers 9011, uploads the
#: records under the same CN, then 9012.
HISTORY_CNS: Final[frozenset[str]] = frozenset(("2031", "2041", "2051", "2061"))
#: Flag of a 2005-layout request: HJ/T 212-2005 Appendix C writes its requests (1072, 2051)
#: with ``Flag=3`` (vectors v17, v22; also the platform sample v77). Bit 1 (D, "packet
#: numbers present") is set there although no PNUM/PNO follow; choice: write what the
#: edition writes, since 2005 loggers were built against those examples.
REQUEST_FLAG_2005: Final[int] = 3


def history_request(
    *,
    cn: str,
    st: str,
    pw: str,
    mn: str,
    begin: datetime,
    end: datetime,
    version: str = "2017",
    qn: str | None = None,
) -> Message:
    """The platform's request for the history a device holds for ``[begin, end]``.

    ``QN;ST;CN;PW;MN;Flag;CP=&&BeginTime=YYYYMMDDhhmmss,EndTime=YYYYMMDDhhmmss&&``
    (HJ 212-2017 Table C.1, the times in one CP group separated by ``,`` as in HJ/T
    212-2005 Appendix C, vectors v22 and v77). ``version`` is the device's edition:
    ``"2017"``/``"2025"`` → ``Flag`` = version bits + A = 1 (5 or 9: the device must answer,
    HJ 212-2017 Table 4); ``"2005"`` → ``Flag=3`` (see :data:`REQUEST_FLAG_2005`).
    ``st``: the device's system code (v77 asks an ST=32 device with ST=32).

    ``begin``, ``end``: aware datetimes are converted to Beijing time (:data:`CST`), naive
    ones are taken as Beijing time (as :meth:`Message.build` does with ``DataTime``); the
    seconds are written whole (a fraction is dropped). ``qn`` defaults to the QN of the
    current time (:func:`make_qn`); the device's answers echo it.

    Raises
    ------
    EncodeError
        ``cn`` is not a history request (:data:`HISTORY_CNS`), ``begin`` is after ``end``,
        an unknown ``version``, or a header value the codec would not decode.
    """
    if cn not in HISTORY_CNS:
        raise EncodeError(f"CN={cn} is not a history request (one of {sorted(HISTORY_CNS)})")
    flag = _request_flag(version)
    first, last = _beijing(begin), _beijing(end)
    if first > last:
        raise EncodeError(f"BeginTime {first:%Y%m%d%H%M%S} is after EndTime {last:%Y%m%d%H%M%S}")
    if qn is None:
        qn = make_qn(datetime.now(CST))
    head = Message.build(qn=qn, st=st, cn=cn, pw=pw, mn=mn, flag=flag)
    # Message.build writes each CP field as its own ``;`` group; the request keeps both
    # times in one group joined by ``,`` (HJ 212-2017 Table C.1; v22, v77), so the CP is
    # written here and the whole segment parsed back (which validates it).
    cp = f"BeginTime={first:%Y%m%d%H%M%S},EndTime={last:%Y%m%d%H%M%S}"
    segment = ";".join(head.header) + f";CP=&&{cp}&&"
    try:
        return parse_segment(segment.encode("ascii"))
    except (FrameError, UnicodeEncodeError) as exc:  # pragma: no cover - build checked it
        raise EncodeError(f"the request would not decode: {exc}") from None


def set_time(
    *,
    st: str,
    pw: str,
    mn: str,
    now: datetime,
    version: str = "2017",
    pol_id: str | None = None,
    qn: str | None = None,
) -> Message:
    """The platform's 1012 "设置现场机时间" (set the device's clock, HJ 212-2017 Table C.1):
    ``CP=&&[PolId=<instrument>;]SystemTime=YYYYMMDDhhmmss&&``, ``now`` in Beijing time
    (aware: converted to :data:`CST`; naive: as is). Sent in answer to a device's 1013
    clock-calibration request (after its 9013); ``pol_id`` names the instrument whose clock
    the 1013 was about (no PolId: the data logger's own). Flag as in
    :func:`history_request` (the device answers 9011 and 9012).

    Raises
    ------
    EncodeError
        An unknown ``version`` or a header value the codec would not decode.
    """
    flag = _request_flag(version)
    local = _beijing(now)
    if qn is None:
        qn = make_qn(local)
    fields: dict[str, object] = {} if pol_id is None else {"PolId": pol_id}
    fields["SystemTime"] = f"{local:%Y%m%d%H%M%S}"
    return Message.build(qn=qn, st=st, cn="1012", pw=pw, mn=mn, flag=flag, fields=fields)


def _request_flag(version: str) -> int:
    """The Flag of the platform's request to a device of edition ``version``: HJ/T 212-2005
    writes its requests with Flag=3 (:data:`REQUEST_FLAG_2005`); 2017/2025: the version bits
    shifted by 2, with A = 1 (the device answers, HJ 212-2017 Table 4). EncodeError for an
    unknown edition."""
    if version not in VERSION_BITS:
        raise EncodeError(f"unknown HJ 212 edition {version!r}")
    return REQUEST_FLAG_2005 if version == "2005" else (VERSION_BITS[version] << 2) | 1


def _beijing(when: datetime) -> datetime:
    """``when`` as naive Beijing time (aware: converted to :data:`CST`; naive: as is)."""
    return when.astimezone(CST).replace(tzinfo=None) if when.tzinfo is not None else when


def platform_replies(message: Message) -> list[Message]:
    """What a platform sends back on receiving ``message`` from a device.

    Nothing unless Flag bit A is set (HJ 212-2017 Table 4; HJ/T 212-2005 likewise), and
    never anything for an answer (9011–9014) or a message without QN. Notices (1013,
    2072) get a 9013; everything else (uploads 2011/2021/2031/2041/2051/2061/2081/30xx,
    heartbeats) a 9014.
    """
    if not message.ack_required or message.cn in ANSWER_CNS or message.qn is None:
        return []
    if message.cn in NOTICE_CNS:
        return [notice_ack(message)]
    return [data_ack(message)]


# --------------------------------------------------------------------------- uploads
def upload(
    cn: str,
    *,
    st: str,
    mn: str,
    pw: str,
    data_time: datetime | str,
    items: Mapping[str, Mapping[str, object]],
    qn: str | None = None,
    version: str = "2017",
    ack: bool = True,
    fields: Mapping[str, object] | None = None,
) -> Message:
    """A device's data upload (HJ 212-2017 Table C.13–C.24).

    ``version`` ``"2017"``/``"2025"``: header ``QN;ST;CN;PW;MN;Flag`` with Flag =
    version bits + A (``ack``); ``qn`` defaults to ``data_time``'s QN. ``"2005"``: the 2005
    upload layout ``ST;CN;PW;MN;CP`` (no QN, no Flag — so no answer is expected).
    ``data_time``: for 2051/2061/2031 the start of the interval (HJ 212-2017 Table C).
    """
    if version not in VERSION_BITS:
        raise EncodeError(f"unknown HJ 212 edition {version!r}")
    if version == "2005":
        return Message.build(
            st=st, cn=cn, pw=pw, mn=mn, data_time=data_time, items=items, fields=fields
        )
    if qn is None:
        qn = make_qn(data_time) if isinstance(data_time, datetime) else data_time + "000"
    return Message.build(
        qn=qn,
        st=st,
        cn=cn,
        pw=pw,
        mn=mn,
        flag=(VERSION_BITS[version] << 2) | int(ack),
        data_time=data_time,
        items=items,
        fields=fields,
    )


def realtime(**kwargs: object) -> Message:
    """2011 real-time data upload (``-Rtd``, ``-Flag``); arguments of :func:`upload`."""
    return upload("2011", **kwargs)  # type: ignore[arg-type]


def minute(**kwargs: object) -> Message:
    """2051 minute data upload (``-Min/-Avg/-Max/-Cou``); arguments of :func:`upload`."""
    return upload("2051", **kwargs)  # type: ignore[arg-type]


def hourly(**kwargs: object) -> Message:
    """2061 hourly data upload; arguments of :func:`upload`."""
    return upload("2061", **kwargs)  # type: ignore[arg-type]


def daily(**kwargs: object) -> Message:
    """2031 daily data upload; arguments of :func:`upload`."""
    return upload("2031", **kwargs)  # type: ignore[arg-type]


def heartbeat(
    *,
    mn: str,
    pw: str,
    when: datetime,
    st: str = "91",
    cn: str = "9015",
    version: str = "2025",
) -> Message:
    """A heartbeat. Neither 2005 nor 2017 defines one; HJ 212-2025 peers send CN 9015 with
    an empty CP (choice: ``ST=91``, no answer requested, ``QN`` from ``when``). Vendors
    also use 8013 or 9021: pass ``cn``."""
    if version not in VERSION_BITS:
        raise EncodeError(f"unknown HJ 212 edition {version!r}")
    return Message.build(
        qn=make_qn(when), st=st, cn=cn, pw=pw, mn=mn, flag=VERSION_BITS[version] << 2
    )


def split_upload(message: Message, max_segment: int = 1024) -> list[Message]:
    """Split an upload whose segment exceeds ``max_segment`` into sub-packets
    (HJ 212-2017 §6.3.3: Flag bit D, ``PNUM``/``PNO``, each with its own QN — the first
    keeps the message's, the others add 1 ms each — and ``DataTime`` repeated).

    Items stay whole (a code's values are never split). Returns ``[message]`` when it fits.

    Raises
    ------
    EncodeError
        A 2005-layout message (no Flag, no QN), or one item that does not fit alone.
    """
    if len(encode(message)) - 12 <= max_segment:
        return [message]
    if message.flag is None or message.qn is None:
        raise EncodeError("only messages with QN and Flag can be split into sub-packets")
    codes = list(message.items)
    texts = {code: dict(entries) for code, entries in message.items.items()}
    try:
        qn_time = datetime.strptime(message.qn, "%Y%m%d%H%M%S%f")
    except ValueError:
        raise EncodeError(f"QN {message.qn!r} is not YYYYMMDDhhmmsszzz") from None
    packs: list[list[str]] = [[]]
    for code in codes:
        trial = packs[-1] + [code]
        probe = message.replace(
            qn=message.qn,
            flag=message.flag | 2,
            pnum=9999,
            pno=9999,
            items={c: texts[c] for c in trial},
        )
        if len(encode(probe)) - 12 <= max_segment or not packs[-1]:
            packs[-1] = trial
        else:
            packs.append([code])
    out = []
    for number, pack in enumerate(packs, start=1):
        qn = message.qn if number == 1 else make_qn(qn_time + timedelta(milliseconds=number - 1))
        part = message.replace(
            qn=qn,
            flag=message.flag | 2,
            pnum=len(packs),
            pno=number,
            items={c: texts[c] for c in pack},
        )
        if len(encode(part)) - 12 > max_segment:
            raise EncodeError(f"item(s) {pack} alone exceed {max_segment} bytes")
        out.append(part)
    return out
