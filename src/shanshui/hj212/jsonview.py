"""The JSON form of decoder events and messages — the contract of ``shanshui hj212 decode``.

A frame::

    {"ok": true, "version": "2017", "qn": "…", "st": "22", "cn": "2061", "pw": "…",
     "mn": "…", "flag": 5, "ack_required": true, "pnum": null, "pno": null,
     "data_time": "2016-08-01T08:00:00", "items": {"a34004": {"Avg": 35.0, "Flag": "N"}},
     "fields": {…}}

An error::

    {"ok": false, "error": "crc_mismatch", "detail": "…", "raw": "##0101…"}

Codes and suffixes exactly as in the frame; plain decimals as JSON numbers
(:func:`~shanshui.hj212.message.typed_value`); ``data_time`` is local (Beijing) time in ISO
8601, with milliseconds when the frame sent 17 digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shanshui.hj212.decoder import Event, Frame
from shanshui.hj212.errors import EncodeError
from shanshui.hj212.message import Message
from shanshui.hj212.replies import VERSION_BITS


def raw_text(raw: bytes) -> str:
    """Bytes as text for JSON: UTF-8 when they are, else one character per byte (latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def message_json(message: Message) -> dict[str, Any]:
    """The JSON object of a decoded message (the ``"ok": true`` contract)."""
    data_time = None
    if message.data_time is not None and message.data_time_raw is not None:
        spec = "milliseconds" if len(message.data_time_raw) == 17 else "seconds"
        data_time = message.data_time.isoformat(timespec=spec)
    return {
        "ok": True,
        "version": message.version,
        "qn": message.qn,
        "st": message.st,
        "cn": message.cn,
        "pw": message.pw,
        "mn": message.mn,
        "flag": message.flag,
        "ack_required": message.ack_required,
        "pnum": message.pnum,
        "pno": message.pno,
        "data_time": data_time,
        "items": message.values(),
        "fields": dict(message.fields),
    }


def event_json(event: Event) -> dict[str, Any]:
    """The JSON object of a decoder event."""
    if isinstance(event, Frame):
        return message_json(event.message)
    return {
        "ok": False,
        "error": event.reason,
        "detail": event.detail,
        "raw": raw_text(event.raw),
    }


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EncodeError(f"{key} must be text, not {type(value).__name__}")
    return str(value)


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{key} must be an integer")
    return value


def message_from_json(obj: Mapping[str, Any]) -> Message:
    """A message from the decode contract's JSON (only ``st`` and ``cn`` required).

    ``flag`` wins; without it, ``version`` (``"2017"``/``"2025"``) and ``ack_required``
    give Flag (``"2005"`` or nothing: no Flag). ``data_time``: ISO 8601 (fractional
    seconds → 17 digits) or the 14/17-digit text. Item and field values: strings are
    written as given, numbers as their shortest decimal.

    Raises
    ------
    EncodeError
        Missing or ill-typed keys, or values that cannot be written.
    """
    if not isinstance(obj, Mapping):
        raise EncodeError("a message must be a JSON object")
    st = _opt_str(obj, "st")
    cn = _opt_str(obj, "cn")
    if st is None or cn is None:
        raise EncodeError("st and cn are required")
    flag = _opt_int(obj, "flag")
    if flag is None:
        version = obj.get("version")
        if version is not None and version != "2005":
            if version not in VERSION_BITS:
                raise EncodeError(f"unknown version {version!r}")
            flag = (VERSION_BITS[version] << 2) | int(bool(obj.get("ack_required", False)))
    data_time: datetime | str | None = None
    raw_time = obj.get("data_time")
    if raw_time is not None:
        if not isinstance(raw_time, str):
            raise EncodeError("data_time must be text")
        if raw_time.isdigit():
            data_time = raw_time
        else:
            try:
                when = datetime.fromisoformat(raw_time)
            except ValueError:
                raise EncodeError(f"data_time {raw_time!r} is not ISO 8601") from None
            data_time = when
            if when.microsecond and when.tzinfo is None:
                data_time = when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond // 1000:03d}"
    items = obj.get("items") or {}
    fields = obj.get("fields") or {}
    if not isinstance(items, Mapping) or not all(isinstance(v, Mapping) for v in items.values()):
        raise EncodeError("items must be {code: {suffix: value}}")
    if not isinstance(fields, Mapping):
        raise EncodeError("fields must be {key: value}")
    return Message.build(
        st=st,
        cn=cn,
        qn=_opt_str(obj, "qn"),
        pw=_opt_str(obj, "pw"),
        mn=_opt_str(obj, "mn"),
        flag=flag,
        pnum=_opt_int(obj, "pnum"),
        pno=_opt_int(obj, "pno"),
        data_time=data_time,
        items=items,
        fields=fields,
    )
