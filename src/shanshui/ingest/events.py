"""Device events: the messages of a data logger that are not data, as the store keeps them.

HJ 212-2017 Table C.1 lists, besides the data uploads (2011/2051/2061/2031, which become
readings, :mod:`shanshui.ingest.readings`), uploads and notices that say something about the
device: its equipment's running state (2021, ``SBn-RS``), the equipment's daily run time
(2041, ``SBn-RT``), the data logger's restart (2081, ``RestartTime``), sample retention,
instrument id and site/instrument information (3015/3019/3020: ``-Info``, ``-SN``,
``PolId``, ``InfoId``) and clock-calibration requests (1013); HJ/T 212-2005 adds the alarm
event (2072: ``AlarmTime``, ``AlarmType``, ``xxx-Ala``). The gateway acknowledges them
like data once they are journaled (:mod:`shanshui.ingest.session`), the journal writer
decodes them here (:func:`event_of`, from :func:`shanshui.ingest.payload.expand_frames`)
and stores them with the chunk's readings (:meth:`shanshui.store.Store.write_observations`,
``events=``; table ``device_event``, migration 0007).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from shanshui.hj212 import CST, FrameError, Message, parse_time
from shanshui.store.api import DeviceEvent

__all__ = [
    "EVENT_CNS",
    "EVENT_KIND_OF",
    "STATE_MEANINGS",
    "event_json",
    "event_of",
    "event_time",
    "states",
]

#: CN of the device messages that are not data → the kind of event the store keeps
#: (HJ 212-2017 Table C.1: 2021 上传设备运行状态, 2041 上传设备运行时间日历史数据, 2081
#: 上传数采仪开机时间, 3015 超标留样, 3019 上传设备唯一标识, 3020 上传现场机信息, 1013 现场机
#: 时间校准请求; HJ/T 212-2005 Table: 2072 上传报警事件). 2041 is here because the readings
#: mapping does not store it (``SBn-RT`` is not a statistic, :data:`shanshui.ingest.readings.
#: PERIODS` has no 2041).
EVENT_KIND_OF: Final[dict[str, str]] = {
    "2021": "state",
    "2041": "runtime",
    "2081": "restart",
    "3015": "info",
    "3019": "info",
    "3020": "info",
    "2072": "alarm",
    "1013": "clock",
}
#: The CNs journaled and stored as device events (:data:`EVENT_KIND_OF`).
EVENT_CNS: Final = frozenset(EVENT_KIND_OF)

#: The CP field that holds an event's own time, by kind: a restart's RestartTime (HJ 212-2017
#: Table C.1, 2081), an alarm's AlarmTime (HJ/T 212-2005, 2072); DataTime for the others.
_TIME_FIELD: Final = {"restart": "RestartTime", "alarm": "AlarmTime"}

#: Equipment running state ``SBn-RS`` codes whose meaning could be verified: HJ/T 212-2005
#: defines ``RS`` as the equipment's running state with 0 = off (设备关) and 1 = on (设备开),
#: as public implementations of that edition quote it; HJ 212-2017 reuses 0 and 1. NOT
#: VERIFIED: the further codes later loggers send (2, 3, … — said to mean calibrating,
#: maintenance, alarm, back-flushing), which the 2017 text available here does not define:
#: they are shown as the raw code without a meaning.
STATE_MEANINGS: Final[dict[str, str]] = {"0": "stopped", "1": "running"}


def _fields(message: Message) -> dict[str, Any]:
    """The CP's ``key=value`` entries in order, values as sent (keys stripped of the spaces
    some devices put around them); a key sent twice keeps every value, as a list."""
    out: dict[str, Any] = {}
    for group in message.cp_entries():
        for entry in group:
            key, _, value = entry.partition("=")
            key = key.strip()
            if key in out:
                old = out[key]
                out[key] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                out[key] = value
    return out


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def _beijing(raw: str | None) -> datetime | None:
    """``YYYYMMDDhhmmss[zzz]`` Beijing time (HJ 212-2017 Table 6) as UTC; None if it is not."""
    if raw is None:
        return None
    try:
        return parse_time(raw.strip()).replace(tzinfo=CST).astimezone(UTC)
    except (FrameError, OverflowError, ValueError):  # year 1 in Beijing is before UTC's year 1
        return None


def event_time(kind: str, fields: dict[str, Any], message: Message, received: datetime) -> datetime:
    """The event's own time [UTC] (CHOICE, in this order): RestartTime of a restart or
    AlarmTime of an alarm; DataTime; the QN (``YYYYMMDDhhmmsszzz``, HJ 212-2017 §6.3.2: the
    time the device made the message; the header's, else a 2005 one inside CP); else the
    time the gateway received it. A time field that is not a valid time falls through to the
    next (its text stays in the fields)."""
    own = _TIME_FIELD.get(kind)
    candidates = [
        None if own is None else _first(fields.get(own)),
        _first(fields.get("DataTime")),
        message.qn,
        _first(fields.get("QN")),
    ]
    for raw in candidates:
        found = _beijing(raw)
        if found is not None:
            return found
    return received


def event_of(message: Message, site: str | None, received_us: int) -> DeviceEvent:
    """The device event of a message whose CN is in :data:`EVENT_CNS`, received at
    ``received_us`` [µs UTC] from a device of ``site`` (None or ``''``: none)."""
    kind = EVENT_KIND_OF[message.cn]
    received = datetime.fromtimestamp(received_us / 1e6, UTC)
    fields = _fields(message)
    return DeviceEvent(
        mn=message.mn or "",
        cn=message.cn,
        kind=kind,
        time=event_time(kind, fields, message, received),
        received=received,
        fields=fields,
        qn=message.qn or _first(fields.get("QN")),
        site=site or None,
    )


def states(fields: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """The equipment running states in an event's fields, ``{equipment: {"code", "meaning"}}``
    (``SB1-RS=1`` → ``{"SB1": {"code": "1", "meaning": "running"}}``): the code as sent, its
    meaning where :data:`STATE_MEANINGS` has it, else None."""
    out: dict[str, dict[str, str | None]] = {}
    for key, value in fields.items():
        if key.endswith("-RS") and len(key) > 3:
            code = _first(value)
            code = None if code is None else code.strip()
            out[key[:-3]] = {
                "code": code,
                "meaning": None if code is None else STATE_MEANINGS.get(code),
            }
    return out


def event_json(event: DeviceEvent) -> dict[str, Any]:
    """An event as JSON-ready data (API, CLI, dead-letter lines): times ISO 8601 UTC, the
    equipment states decoded (:func:`states`) beside the fields as sent."""
    fields = dict(event.fields)
    out: dict[str, Any] = {
        "mn": event.mn,
        "site": event.site,
        "cn": event.cn,
        "kind": event.kind,
        "time": event.time.astimezone(UTC).isoformat(),
        "received": event.received.astimezone(UTC).isoformat(),
        "qn": event.qn,
        "fields": fields,
    }
    found = states(fields)
    if found:
        out["states"] = found
    return out
