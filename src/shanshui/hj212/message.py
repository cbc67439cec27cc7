"""The HJ 212 data segment as a typed, immutable :class:`Message`.

Data segment (HJ 212-2017 §6.3.3, Table 4; HJ/T 212-2005 §6.3.3)::

    QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&

``key=value`` pairs separated by ``;``, read by name (devices vary the order). Inside CP
(HJ 212-2017 §6.3.3.2): groups separated by ``;``, entries of a group by ``,``, each
``key=value``; ``code-Suffix`` names a measurement (split at the first ``-``).

A :class:`Message` holds both the *meaning* (``qn``, ``st``, …, ``items``, ``fields``) and
the *layout* as sent (``header`` entries and ``cp`` groups of entries, exact text), so that
encoding a decoded message reproduces its bytes: spaces, key order, ``0.0000``, a trailing
``;`` and repeated keys survive. Build new messages with :meth:`Message.build`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import repeat
from typing import Any, Final, NamedTuple

from mypy_extensions import mypyc_attr

from shanshui.hj212.errors import EncodeError, FrameError

#: Suffixes whose values are text, never numbers (HJ 212-2017 Table 5 / §6.6; the 2005
#: edition's ``Flag``). Everything else that is a plain decimal is a number.
TEXT_SUFFIXES: Final[frozenset[str]] = frozenset(("Flag", "EFlag", "SampleTime", "Info", "SN"))

#: China Standard Time: HJ 212 frames carry Beijing local time without an offset.
CST: Final = timezone(timedelta(hours=8), "CST")

_CTRL: Final = re.compile(r"[\x00-\x1f\x7f]")
_EQ: Final = repeat("=")  # infinite, stateless: reusable as map() arguments
_ONE: Final = repeat(1)
_COMMA: Final = repeat(",")
_HEADER_2017: Final = re.compile(
    r"(?:QN=(\d{1,20});)?ST=([0-9A-Za-z]{1,4});CN=(\d{1,6});PW=([^;]{0,64});MN=([^;]{0,64});"
    r"(?:Flag=(\d{1,3});)?",
    re.ASCII,
)
_HEADER_KEYS: Final = frozenset(("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"))
# Header values are printable ASCII without the segment's separators.
_MAX_HEADER_VALUE: Final = 64


def _bad(detail: str) -> FrameError:
    return FrameError("bad_field", detail)


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
        return tuple(map(tuple, _split_cp_slow(";".join(self.cp))))

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
                header.append(f"{key}={_header_text(key, value)}")
        groups: list[str] = []
        if data_time is not None:
            groups.append(f"DataTime={_time_text(data_time)}")
        for key, value in (fields or {}).items():
            groups.append(f"{_cp_key(key)}={format_value(value)}")
        for code, entries in (items or {}).items():
            parts = [
                f"{_cp_key(f'{code}-{suffix}')}={format_value(value)}"
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
    if _CTRL.search(text) or "&&" in text:
        raise EncodeError(f"value {text!r} contains control characters or '&&'")
    if (";" in text or "," in text) and not (text.startswith("//") and text.endswith("//")):
        raise EncodeError(f"value {text!r} contains a separator (';' or ',') outside //…//")
    return text


def _cp_key(key: str) -> str:
    if not key or any(c in key for c in ";,=&") or _CTRL.search(key):
        raise EncodeError(f"bad CP key {key!r}")
    return key


def _header_text(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EncodeError(f"{key} must be text or an int, not {type(value).__name__}")
    text = str(value)
    if any(c in text for c in ";=&") or _CTRL.search(text):
        raise EncodeError(f"{key}={text!r} contains a separator or control character")
    return text


def _time_text(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(CST)
    return value.strftime("%Y%m%d%H%M%S")


# --------------------------------------------------------------------------- parsing
def typed_value(suffix: str, text: str) -> float | str:
    """A CP value as a number when it is a plain decimal (``[-]digits[.digits]``, ASCII)
    and its suffix is not a text suffix (:data:`TEXT_SUFFIXES`); otherwise the text."""
    if suffix not in TEXT_SUFFIXES and text.isascii():
        digits = text.replace(".", "", 1)
        if digits.isdigit() or (digits[:1] == "-" and digits[1:].isdigit()):
            return float(text)
    return text


def _split_cp_slow(cp: str) -> list[list[str]]:
    """Split CP into groups/entries, keeping ``//…//`` values (``-Info`` logs) whole."""
    groups: list[list[str]] = []
    entries: list[str] = []
    start = 0
    i = 0
    n = len(cp)
    while i < n:
        c = cp[i]
        if c == "/" and cp.startswith("//", i) and i and cp[i - 1] == "=":
            end = cp.find("//", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c == ",":
            entries.append(cp[start:i])
            start = i + 1
        elif c == ";":
            entries.append(cp[start:i])
            groups.append(entries)
            entries = []
            start = i + 1
        i += 1
    entries.append(cp[start:])
    groups.append(entries)
    return groups


_SIG_MAP: Final = bytes.maketrans(b";", b",")
# Kept: the separators, '=' and the space (a space sends CP to the general path).
_SIG_DELETE: Final = bytes(c for c in range(256) if c not in b";,= ")
# "=,=,…=" longer than any signature of a segment of at most 9999 bytes.
_PAIRS: Final = b"=," * 5000


def _one_pair_each(signature: bytes) -> bool:
    """``signature`` is ``=`` (``,=``)* — i.e. each entry has exactly one ``=``."""
    # Odd length and a prefix of "=,=,…": alternating, starting and ending with "=".
    return len(signature) & 1 == 1 and _PAIRS.startswith(signature)


# Memo of parse_time for the fast path: many stations send the same DataTime. Values are
# immutable; the table is cleared when full (bounded memory).
_TIMES: dict[str, datetime] = {}
# Memo of the header fast path: the header after QN is constant for one device
# (ST, CN, PW, MN, Flag). Key: that text; value: its entries and decoded fields.
_HEADERS: dict[
    str, tuple[tuple[str, ...], str | None, str | None, str | None, str | None, int | None]
] = {}
_MEMO_SIZE: Final = 4096


class _KeyParts(dict[str, tuple[str, str, str]]):
    """Memo of CP keys split at the first ``-`` (``code``, ``-``, ``Suffix``; HJ 212-2017
    §6.3.3.2): a device sends the same keys in every frame. Bounded: cleared when full,
    keys longer than 64 characters are not kept."""

    __slots__ = ()

    def __missing__(self, key: str) -> tuple[str, str, str]:
        parts = key.partition("-")
        if len(key) <= 64:
            if len(self) >= _MEMO_SIZE:
                self.clear()
            self[key] = parts
        return parts


_KEY_PARTS: Final = _KeyParts()


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
    raise _bad(f"DataTime {raw!r} is not YYYYMMDDhhmmss[zzz]")


def parse_segment(data: bytes, *, crc_lower: bool = False) -> Message:
    """Decode one data segment (the bytes between the length field and the CRC).

    See :func:`_parse` (the same, with positional arguments for the decoder's hot path).
    """
    return _parse(data, crc_lower)


def _parse(data: bytes, crc_lower: bool, known: str | None = None) -> Message:
    """Decode one data segment (the bytes between the length field and the CRC).

    Text is ASCII in practice; non-ASCII bytes (only in ``-Info`` text) are read as UTF-8
    (HJ 212-2017 §6.3.1), falling back to GBK (Windows devices).

    Raises
    ------
    FrameError
        ``bad_field`` when the segment does not follow HJ 212-2017 §6.3.3; the rules
        (lenient where devices are known to differ) are written at each check.
    """
    ascii_only = data.isascii()
    if ascii_only:
        # Control characters (NUL as ST in vector v62) are never valid in a segment.
        # For ASCII, str.isprintable() is false exactly for 0x00-0x1F and 0x7F.
        text = data.decode("ascii")
        if not text.isprintable():
            raise _bad("control characters in the data segment")
        encoding = "utf-8"
    elif known is not None:  # a message being built: its encoding is known
        text = data.decode(known)
        encoding = known
        if _CTRL.search(text):
            raise _bad("control characters in the data segment")
    else:
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            try:
                text = data.decode("gbk")
                encoding = "gbk"
            except UnicodeDecodeError:
                raise _bad("non-ASCII text is neither UTF-8 nor GBK") from None
        if _CTRL.search(text):
            raise _bad("control characters in the data segment")

    # --- split header / CP (HJ 212-2017 §6.3.3: CP=&&…&& is the last field)
    cpi = text.find("CP=&&")
    if cpi < 0 or len(text) < cpi + 7 or not text.endswith("&&"):
        raise _bad("no CP=&&…&& at the end of the data segment")
    if cpi and text[cpi - 1] != ";":
        raise _bad("CP is not preceded by ';'")
    cp = text[cpi + 5 : -2]

    # --- header fields, by name, any order (devices vary it: PNO before PNUM in v29).
    # Header values are ASCII (checked for the whole segment above, or here).
    if not ascii_only and not text[:cpi].isascii():
        raise _bad("non-ASCII characters in the header")
    # Memo key: the header after a valid leading QN (the part constant for one device),
    # or the whole header without QN; None when the memo does not apply.
    key: str | None = None
    q = -1
    if ascii_only and cpi:
        if text.startswith("QN="):
            q = text.find(";", 3, cpi)
            if 3 < q <= 23 and text[3:q].isdigit():  # QN: 1-20 digits (see below)
                key = text[q + 1 : cpi]
        else:
            key = text[:cpi]
    memo = _HEADERS.get(key) if key is not None else None
    if memo is not None:
        # The fast path below already checked this text (memo of its result).
        rest, st, cn, pw, mn, flag = memo
        if q >= 0:
            qn = text[3:q]
            header = (text[:q], *rest)
        else:
            qn = None
            header = rest
        pnum = pno = None
    elif (match := _HEADER_2017.match(text) if ascii_only else None) is not None and (
        match.end() == cpi
    ):
        # Fast path, the usual layouts: [QN=;]ST=;CN=;PW=;MN=;[Flag=;] with the checks of
        # the general path below written as a pattern.
        header = tuple(text[: cpi - 1].split(";"))
        qn, st, cn, pw, mn, text_flag = match.groups()
        flag = None if text_flag is None else int(text_flag)
        if flag is not None and flag > 255:
            raise _bad(f"Flag={text_flag!r}")
        pnum = pno = None
        if key is not None and len(key) <= 256:
            if len(_HEADERS) >= _MEMO_SIZE:
                _HEADERS.clear()
            _HEADERS[key] = (header[1:] if qn is not None else header, st, cn, pw, mn, flag)
    else:
        header = tuple(text[: cpi - 1].split(";")) if cpi else ()
        try:
            hdr = dict(map(str.split, header, _EQ, _ONE))
        except ValueError:
            raise _bad("a header entry has no '='") from None
        if len(hdr) != len(header):
            raise _bad("a header key appears twice")
        if not hdr.keys() <= _HEADER_KEYS:
            for key, value in hdr.items():
                # Other header keys (vendor extensions) stay in the layout only.
                if key not in _HEADER_KEYS and (
                    not key.strip() or "&" in key or len(value) > _MAX_HEADER_VALUE
                ):
                    raise _bad(f"bad header entry {key}={value}")
        st = hdr.get("ST")
        cn = hdr.get("CN")
        # ST: 2 characters in both editions; "101" and "80" occur (v41, v46). Choice: 1–4
        # ASCII letters/digits. CN: 4 digits in both editions. Choice: 1–6 digits.
        if st is None or cn is None:
            raise _bad("ST or CN missing")
        if not (st.isalnum() and len(st) <= 4):
            raise _bad(f"ST={st!r}")
        if not (cn.isdigit() and len(cn) <= 6):
            raise _bad(f"CN={cn!r}")
        qn = hdr.get("QN")
        # QN: 17 digits YYYYMMDDhhmmsszzz; a 13-digit epoch-ms QN occurs. Choice: 1–20 digits.
        if qn is not None and not (qn.isdigit() and len(qn) <= 20):
            raise _bad(f"QN={qn!r}")
        pw = hdr.get("PW")
        mn = hdr.get("MN")
        # PW: 6 characters in the standards, 24 occur (v23); MN: 24 hex (2017) / 14 (2005),
        # empty, lower case, '_' and '-' occur (v37, v76). Choice: at most 64 characters.
        if (pw is not None and len(pw) > _MAX_HEADER_VALUE) or (
            mn is not None and len(mn) > _MAX_HEADER_VALUE
        ):
            raise _bad("PW or MN longer than 64 characters")
        text_flag = hdr.get("Flag")
        flag = None
        if text_flag is not None:
            # 0–255: bit 0 A, bit 1 D, bits 2–7 edition (HJ 212-2017 Table 4).
            if not (text_flag.isdigit() and len(text_flag) <= 3 and int(text_flag) < 256):
                raise _bad(f"Flag={text_flag!r}")
            flag = int(text_flag)
        pnum = pno = None
        text_pnum = hdr.get("PNUM")
        text_pno = hdr.get("PNO")
        # PNUM/PNO: 4 digits (zero-padded in v29).
        if text_pnum is not None:
            if not (text_pnum.isdigit() and len(text_pnum) <= 4):
                raise _bad(f"PNUM={text_pnum!r}")
            pnum = int(text_pnum)
        if text_pno is not None:
            if not (text_pno.isdigit() and len(text_pno) <= 4):
                raise _bad(f"PNO={text_pno!r}")
            pno = int(text_pno)

    # --- CP (HJ 212-2017 §6.3.3.2)
    items: dict[str, dict[str, str]] = {}
    fields: dict[str, str] = {}
    data_time_raw: str | None = None
    # Fast path (ASCII, no spaces, no //…// text): the separators and '=' signs of CP,
    # with ';' read as ',', must read "=,=,…,=" — every entry exactly one key=value (and
    # no space, which the signature keeps): see _one_pair_each, inlined.
    if (
        ascii_only
        and "//" not in cp
        and (signature := data[cpi + 5 : -2].translate(_SIG_MAP, _SIG_DELETE))
        and len(signature) & 1
        and _PAIRS.startswith(signature)
    ):
        tokens = cp.replace(";", ",").replace("=", ",").split(",")
        layout = tuple(cp.split(";"))
        prev = None
        per_code: dict[str, str] = {}
        key_parts = _KEY_PARTS
        # Index loop over the key/value pairs: mypyc compiles it to C (tokens has an even
        # length by the signature check).
        for k in range(0, len(tokens), 2):
            value = tokens[k + 1]
            code, dash, suffix = key_parts[tokens[k]]
            if dash:
                if code != prev:
                    if not code:  # a key "-Rtd" names no code: a plain field
                        fields[dash + suffix] = value
                        continue
                    found: dict[str, str] | None = items.get(code)
                    if found is None:
                        found = items[code] = {}
                    per_code = found
                    prev = code
                per_code[suffix] = value
            elif code == "DataTime":
                data_time_raw = value
            elif code:
                fields[code] = value
            else:
                raise _bad("CP entry with an empty key")
    else:
        groups = _split_cp_slow(cp) if "//" in cp else [g.split(",") for g in cp.split(";")]
        layout = tuple(map(",".join, groups))
        for group in groups:
            for entry in group:
                key, sep, value = entry.partition("=")
                if not sep:
                    # A trailing ';' or ',' leaves an empty entry (v44): allowed.
                    if entry.strip():
                        raise _bad(f"CP entry {entry!r} has no '='")
                    continue
                key = key.strip()  # the standard's own example has '; LA-Rtd' (v09)
                code, dash, suffix = key.partition("-")
                if dash and code:
                    entries = items.get(code)
                    if entries is None:
                        items[code] = {suffix: value}
                    else:
                        entries[suffix] = value
                elif key == "DataTime":
                    data_time_raw = value
                elif key:
                    fields[key] = value
                else:
                    raise _bad(f"CP entry {entry!r} has an empty key")
    if data_time_raw is None:
        data_time = None
    else:
        data_time = _TIMES.get(data_time_raw)
        if data_time is None:
            data_time = parse_time(data_time_raw)
            if len(_TIMES) >= _MEMO_SIZE:
                _TIMES.clear()
            _TIMES[data_time_raw] = data_time
    return tuple.__new__(
        Message,
        (
            qn,
            st,
            cn,
            pw,
            mn,
            flag,
            pnum,
            pno,
            data_time_raw,
            data_time,
            items,
            fields,
            header,
            layout,
            encoding,
            crc_lower,
        ),
    )
