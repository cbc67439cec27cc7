"""The HJ 212 data segment (HJ 212-2017 §6.3.3) as a typed, immutable :class:`Message`.

Reading the segment's text is :mod:`shanshui.hj212.segment`'s job, writing and reading
single values :mod:`shanshui.hj212.values`'; this module holds the message itself and
:func:`parse_segment`.

A :class:`Message` holds both the *meaning* (``qn``, ``st``, …, ``items``, ``fields``) and
the *layout* as sent (``header`` entries and ``cp`` groups of entries, exact text), so that
encoding a decoded message reproduces its bytes: spaces, key order, ``0.0000``, a trailing
``;`` and repeated keys survive. Build new messages with :meth:`Message.build`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from mypy_extensions import mypyc_attr

from shanshui.hj212.errors import EncodeError, FrameError
from shanshui.hj212.segment import parse_fields, split_cp
from shanshui.hj212.values import (
    CST,
    TEXT_SUFFIXES,
    cp_key,
    format_value,
    header_text,
    parse_time,
    time_text,
    typed_value,
)

# Re-exported: they were defined here before values.py and segment.py took them.
__all__ = [
    "CST",
    "TEXT_SUFFIXES",
    "Message",
    "format_value",
    "parse_segment",
    "parse_time",
    "typed_value",
]


class _Fields(NamedTuple):
    qn: str | None
    st: str
    cn: str
    pw: str | None
    mn: str | None
    flag: int | None
    pnum: int | None
    pno: int | None
    data_time_raw: str | None
    data_time: datetime | None
    items: Mapping[str, Mapping[str, str]]
    fields: Mapping[str, str]
    header: tuple[str, ...]
    cp: tuple[str, ...]
    encoding: str
    crc_lower: bool


# mypyc compiles this module (setup.py) but cannot make a tuple subclass a native class.
@mypyc_attr(native_class=False)
class Message(_Fields):
    """One HJ 212 data segment, decoded. Immutable; build new ones with :meth:`build`.

    Attributes
    ----------
    qn : str or None
        Request id ``QN`` (``YYYYMMDDhhmmsszzz``); ``None`` when absent (2005 uploads).
    st, cn : str
        System code ``ST`` and command code ``CN`` as text.
    pw, mn : str or None
        Password ``PW`` and device id ``MN``; ``None`` when absent (2005 9014).
    flag : int or None
        ``Flag`` [0–255]; ``None`` when absent (2005 layout). See :attr:`version`,
        :attr:`ack_required`, :attr:`has_subpackets`.
    pnum, pno : int or None
        Total packets and this packet's number (sub-packets, HJ 212-2017 §6.3.3).
    data_time_raw : str or None
        ``DataTime`` in CP as sent (14 digits, or 17 with milliseconds).
    data_time : datetime or None
        ``DataTime`` as a naive local (Beijing) time; for 2051/2061/2031 the *start* of
        the interval (HJ 212-2017 Table C). Attach the site's zone (see :data:`CST`).
    items : Mapping[str, Mapping[str, str]]
        ``{code: {suffix: text}}``, codes, suffixes and values exactly as sent (``0.0000``
        stays ``0.0000``; a repeated key keeps its last value). :meth:`values` gives them
        typed (plain decimals as ``float``), :meth:`number` one of them.
    fields : Mapping[str, str]
        Other CP ``key=value`` pairs (``QnRtn``, ``ExeRtn``, ``RtdInterval``, 2005's
        ``QN``/``CN`` inside CP, …), keys stripped, values as sent.
    header : tuple[str, ...]
        The header entries exactly as sent (``"QN=…"``, ``"ST=32"``, …), in order.
    cp : tuple[str, ...]
        The CP groups (split on ``;`` outside ``//…//``), exact text; :meth:`cp_entries`
        splits them into entries.
    encoding : str
        ``"utf-8"`` (the standard's, also for pure ASCII) or ``"gbk"`` (Windows devices).
    crc_lower : bool
        The frame's CRC was printed in lower case (re-encoding keeps it).
    """

    __slots__ = ()

    # ----------------------------------------------------------------- derived values
    @property
    def version(self) -> str | None:
        """Edition by the Flag's version bits 2–7 (HJ 212-2017 Table 4 note; HJ 212-2025).

        No Flag or bits 0 → ``"2005"``; 1 → ``"2017"``; 2 → ``"2025"``; any other value →
        ``None`` (unknown edition; the message is still accepted).
        """
        if self.flag is None:
            return "2005"
        return _VERSIONS.get(self.flag >> 2)

    @property
    def ack_required(self) -> bool:
        """Flag bit 0 ``A``: the receiver must answer (HJ 212-2017 Table 4)."""
        return self.flag is not None and bool(self.flag & 1)

    @property
    def has_subpackets(self) -> bool:
        """Flag bit 1 ``D`` set, or ``PNUM``/``PNO`` present (HJ 212-2017 Table 4)."""
        return (self.flag is not None and bool(self.flag & 2)) or self.pnum is not None

    @property
    def ref_qn(self) -> str | None:
        """The QN this message refers to: a 2005 answer's ``QN`` inside CP, else ``qn``."""
        return self.fields.get("QN", self.qn)

    def values(self) -> dict[str, dict[str, float | str]]:
        """:attr:`items` typed: plain decimals as ``float`` (see :func:`typed_value`)."""
        return {
            code: {suffix: typed_value(suffix, text) for suffix, text in entries.items()}
            for code, entries in self.items.items()
        }

    def number(self, code: str, suffix: str) -> float | None:
        """The value ``code-suffix`` as a number [unit of the code], or ``None`` when it is
        absent or not a plain decimal."""
        text = self.items.get(code, {}).get(suffix)
        if text is None:
            return None
        value = typed_value("", text)
        return value if isinstance(value, float) else None

    def segment(self) -> str:
        """The data segment as text, from the layout (no ``##``, length, CRC)."""
        head = ";".join(self.header)
        cp = ";".join(self.cp)
        return f"{head};CP=&&{cp}&&" if head else f"CP=&&{cp}&&"

    def replace(self, **changes: Any) -> Message:
        """A copy with some meanings changed, laid out canonically (see :meth:`build`).

        Keyword names are those of :meth:`build`. Unchanged items keep their exact text.
        """
        args: dict[str, Any] = {
            "st": self.st,
            "cn": self.cn,
            "qn": self.qn,
            "pw": self.pw,
            "mn": self.mn,
            "flag": self.flag,
            "pnum": self.pnum,
            "pno": self.pno,
            "data_time": self.data_time_raw,
            "items": {code: dict(entries) for code, entries in self.items.items()},
            "fields": dict(self.fields),
            "encoding": self.encoding,
        }
        unknown = set(changes) - set(args)
        if unknown:
            raise EncodeError(f"unknown message attributes {sorted(unknown)}")
        args.update(changes)
        return Message.build(**args)

    def cp_entries(self) -> tuple[tuple[str, ...], ...]:
        """The CP groups split into their ``key=value`` entries, exact text, in order."""
        return tuple(map(tuple, split_cp(";".join(self.cp))))

    # The NamedTuple's own _replace would desynchronise meaning and layout.
    def _replace(self, **changes: Any) -> Message:
        return self.replace(**changes)

    # ----------------------------------------------------------------- construction
    @staticmethod
    def build(
        *,
        st: str,
        cn: str,
        qn: str | None = None,
        pw: str | None = None,
        mn: str | None = None,
        flag: int | None = None,
        pnum: int | None = None,
        pno: int | None = None,
        data_time: datetime | str | None = None,
        items: Mapping[str, Mapping[str, object]] | None = None,
        fields: Mapping[str, object] | None = None,
        encoding: str = "utf-8",
    ) -> Message:
        """A new message laid out canonically.

        Header in the order of HJ 212-2017 Table 4 (``QN;ST;CN;PW;MN;Flag;PNUM;PNO;CP``,
        absent ones left out). CP: ``DataTime`` first, then each of ``fields`` as its own
        group, then one group per item code with its entries joined by ``,`` (HJ 212-2017
        Table C examples). Values: ``str`` as given (exact text), ``int``, ``float``
        (shortest round-trip decimal, never an exponent), ``Decimal``. ``data_time``: a
        ``datetime`` (aware ones are converted to Beijing time, :data:`CST`) or the
        14/17-digit text.

        Raises
        ------
        EncodeError
            A value that cannot be written (separators, control characters, NaN, …) or a
            header value that the decoder would reject.
        """
        header = []
        pairs: tuple[tuple[str, object], ...] = (
            ("QN", qn),
            ("ST", st),
            ("CN", cn),
            ("PW", pw),
            ("MN", mn),
            ("Flag", flag),
            ("PNUM", pnum),
            ("PNO", pno),
        )
        for key, value in pairs:
            if value is not None:
                header.append(f"{key}={header_text(key, value)}")
        groups: list[str] = []
        if data_time is not None:
            groups.append(f"DataTime={time_text(data_time)}")
        for key, value in (fields or {}).items():
            groups.append(f"{cp_key(key)}={format_value(value)}")
        for code, entries in (items or {}).items():
            parts = [
                f"{cp_key(f'{code}-{suffix}')}={format_value(value)}"
                for suffix, value in entries.items()
            ]
            if not parts:
                raise EncodeError(f"item {code!r} has no values")
            groups.append(",".join(parts))
        head = ";".join(header)
        text = f"{head};CP=&&{';'.join(groups)}&&" if head else f"CP=&&{';'.join(groups)}&&"
        try:
            data = text.encode(encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            raise EncodeError(f"text cannot be written as {encoding}: {exc}") from None
        try:
            message = _parse(data, False, encoding)
        except FrameError as exc:
            raise EncodeError(f"the message would not decode: {exc.detail}") from None
        if message.encoding != encoding:  # pure ASCII text reads as utf-8
            return message._with_presentation(encoding, False)
        return message

    def _with_presentation(self, encoding: str, crc_lower: bool) -> Message:
        values = list(self)
        values[-2] = encoding
        values[-1] = crc_lower
        return tuple.__new__(Message, values)


_VERSIONS: Final[dict[int, str]] = {0: "2005", 1: "2017", 2: "2025"}


def parse_segment(data: bytes, *, crc_lower: bool = False) -> Message:
    """Decode one data segment (the bytes between the length field and the CRC).

    Text is ASCII in practice; non-ASCII bytes (only in ``-Info`` text) are read as UTF-8
    (HJ 212-2017 §6.3.1), falling back to GBK (Windows devices).

    Raises
    ------
    FrameError
        ``bad_field`` when the segment does not follow HJ 212-2017 §6.3.3 (the rules are
        written at each check of :func:`shanshui.hj212.segment.parse_fields`).
    """
    return tuple.__new__(Message, parse_fields(data, crc_lower))


def _parse(data: bytes, crc_lower: bool, known: str | None = None) -> Message:
    """:func:`parse_segment` with positional arguments, for the decoder's hot path;
    ``known``: the encoding of a message being built."""
    return tuple.__new__(Message, parse_fields(data, crc_lower, known))
