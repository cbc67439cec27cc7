"""Text of HJ 212 values, both ways: CP and header values, numbers and times.

- :func:`format_value` — a Python value as CP text (HJ 212-2017 §6.3.3.2, Table 6 formats).
- :func:`typed_value` — CP text as a number where it is a plain decimal.
- :func:`parse_time` — ``DataTime`` text (HJ 212-2017 Table 6) as a naive local time.
- :data:`CST`, :data:`TEXT_SUFFIXES`.

Used by :mod:`shanshui.hj212.message` (building messages) and
:mod:`shanshui.hj212.segment` (reading them).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

from shanshui.hj212.errors import EncodeError, FrameError

#: Suffixes whose values are text, never numbers (HJ 212-2017 Table 5 / §6.6; the 2005
#: edition's ``Flag``). Everything else that is a plain decimal is a number.
TEXT_SUFFIXES: Final[frozenset[str]] = frozenset(("Flag", "EFlag", "SampleTime", "Info", "SN"))

#: China Standard Time: HJ 212 frames carry Beijing local time without an offset.
CST: Final = timezone(timedelta(hours=8), "CST")

#: Control characters, never valid in a segment.
CTRL: Final = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------- formatting
def format_value(value: object) -> str:
    """Text of a CP value: ``str`` as is; ``int``; finite ``float`` as its shortest
    round-trip decimal without exponent; ``Decimal`` in fixed notation.

    Raises
    ------
    EncodeError
        ``bool``, NaN/infinity, or another type.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        raise EncodeError("a bool is not an HJ 212 value; write 1/0 or text")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EncodeError(f"{value!r} cannot be sent in HJ 212")
        text = repr(value)
        if "e" in text:
            text = format(Decimal(text), "f")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise EncodeError(f"{value!r} cannot be sent in HJ 212")
        text = format(value, "f")
    else:
        raise EncodeError(f"cannot write {type(value).__name__} as an HJ 212 value")
    if CTRL.search(text) or "&&" in text:
        raise EncodeError(f"value {text!r} contains control characters or '&&'")
    if (";" in text or "," in text) and not (text.startswith("//") and text.endswith("//")):
        raise EncodeError(f"value {text!r} contains a separator (';' or ',') outside //…//")
    return text


def cp_key(key: str) -> str:
    if not key or any(c in key for c in ";,=&") or CTRL.search(key):
        raise EncodeError(f"bad CP key {key!r}")
    return key


def header_text(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EncodeError(f"{key} must be text or an int, not {type(value).__name__}")
    text = str(value)
    if any(c in text for c in ";=&") or CTRL.search(text):
        raise EncodeError(f"{key}={text!r} contains a separator or control character")
    return text


def time_text(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(CST)
    return value.strftime("%Y%m%d%H%M%S")


# --------------------------------------------------------------------------- reading
def typed_value(suffix: str, text: str) -> float | str:
    """A CP value as a number when it is a plain decimal (``[-]digits[.digits]``, ASCII)
    and its suffix is not a text suffix (:data:`TEXT_SUFFIXES`); otherwise the text."""
    if suffix not in TEXT_SUFFIXES and text.isascii():
        digits = text.replace(".", "", 1)
        if digits.isdigit() or (digits[:1] == "-" and digits[1:].isdigit()):
            return float(text)
    return text


def parse_time(raw: str) -> datetime:
    """``YYYYMMDDhhmmss`` or ``YYYYMMDDhhmmsszzz`` (HJ 212-2017 Table 6) as naive local time.

    Raises
    ------
    FrameError
        ``bad_field`` for any other text or an impossible date.
    """
    n = len(raw)
    if raw.isdigit() and raw.isascii() and n in (14, 17):
        try:
            if n == 14:
                return datetime.fromisoformat(f"{raw[:8]}T{raw[8:]}")
            return datetime.fromisoformat(f"{raw[:8]}T{raw[8:14]}.{raw[14:]}")
        except ValueError:
            pass
    raise FrameError("bad_field", f"DataTime {raw!r} is not YYYYMMDDhhmmss[zzz]")
