"""Reading an HJ 212 data segment into the fields of a message.

Data segment (HJ 212-2017 §6.3.3, Table 4; HJ/T 212-2005 §6.3.3)::

    QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&

``key=value`` pairs separated by ``;``, read by name (devices vary the order). Inside CP
(HJ 212-2017 §6.3.3.2): groups separated by ``;``, entries of a group by ``,``, each
``key=value``; ``code-Suffix`` names a measurement (split at the first ``-``).

:func:`parse_fields` gives the fields in the order of ``Message`` (meaning and layout);
:mod:`shanshui.hj212.message` wraps them. The decoder's hot path: fast paths for the usual
layouts with memos of what devices repeat (header, keys, times), and the general path for
everything else. :func:`split_cp` splits CP text into groups and entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from itertools import repeat
from typing import Final

from shanshui.hj212.errors import FrameError
from shanshui.hj212.values import CTRL, parse_time

_EQ: Final = repeat("=")  # infinite, stateless: reusable as map() arguments
_ONE: Final = repeat(1)
_HEADER_2017: Final = re.compile(
    r"(?:QN=(\d{1,20});)?ST=([0-9A-Za-z]{1,4});CN=(\d{1,6});PW=([^;]{0,64});MN=([^;]{0,64});"
    r"(?:Flag=(\d{1,3});)?",
    re.ASCII,
)
_HEADER_KEYS: Final = frozenset(("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"))
# Header values are printable ASCII without the segment's separators.
_MAX_HEADER_VALUE: Final = 64

#: The fields of a message in ``Message``'s order: qn, st, cn, pw, mn, flag, pnum, pno,
#: data_time_raw, data_time, items, fields, header, cp (layout), encoding, crc_lower.
Fields = tuple[
    str | None,
    str,
    str,
    str | None,
    str | None,
    int | None,
    int | None,
    int | None,
    str | None,
    datetime | None,
    Mapping[str, Mapping[str, str]],
    Mapping[str, str],
    tuple[str, ...],
    tuple[str, ...],
    str,
    bool,
]


def _bad(detail: str) -> FrameError:
    return FrameError("bad_field", detail)


def split_cp(cp: str) -> list[list[str]]:
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
_HEADERS: dict[str, tuple[tuple[str, ...], str, str, str | None, str | None, int | None]] = {}
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


def parse_fields(data: bytes, crc_lower: bool, known: str | None = None) -> Fields:
    """The fields of one data segment (the bytes between the length field and the CRC).

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
        if CTRL.search(text):
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
        if CTRL.search(text):
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
        text_st = hdr.get("ST")
        text_cn = hdr.get("CN")
        # ST: 2 characters in both editions; "101" and "80" occur (v41, v46). Choice: 1–4
        # ASCII letters/digits. CN: 4 digits in both editions. Choice: 1–6 digits.
        if text_st is None or text_cn is None:
            raise _bad("ST or CN missing")
        st = text_st
        cn = text_cn
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
        groups = split_cp(cp) if "//" in cp else [g.split(",") for g in cp.split(";")]
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
    return (
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
    )
