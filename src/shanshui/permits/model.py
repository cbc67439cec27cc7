"""The permit model (排污许可证): enterprise, outlets, limits, annual totals, self-monitoring.

Mirrors the structure of a permit as published on the national platform (permit.mee.gov.cn):
per outlet (DA001… air, DW001… water) and pollutant the permitted hourly and daily-mean
concentrations with the standard they come from and the reference oxygen they are stated at,
the permitted rate (kg/h); per enterprise and pollutant the permitted annual mass (t/a) per
year; the self-monitoring table (automatic or manual, frequency) and the validity period.
``to_dict``/``permit_from_dict`` give the JSON layout of ``docs/permits.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from shanshui.errors import PeerError
from shanshui.hj212.codes import POLLUTANTS

__all__ = [
    "OUTLET_KINDS",
    "OUTLET_TYPES",
    "AnnualTotal",
    "Enterprise",
    "Limit",
    "Monitoring",
    "Outlet",
    "Permit",
    "PermitError",
    "limit_from_dict",
    "permit_from_dict",
]

#: Outlet types of a permit: 主要排放口 (main) and 一般排放口 (general).
OUTLET_TYPES = frozenset({"主要", "一般"})
#: Outlet kinds: flue gas (DA…) and waste water (DW…).
OUTLET_KINDS = frozenset({"air", "water"})
#: Self-monitoring modes of the permit's monitoring table.
MONITORING_MODES = frozenset({"automatic", "manual"})


class PermitError(PeerError):
    """A permit file or request the model cannot accept: ``source`` (file) and ``field`` (a
    path such as ``outlets[0].limits[2].hourly``) say where."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        where = ": ".join(x for x in (source, field) if x)
        super().__init__(f"{where}: {message}" if where else message)
        self.source, self.field, self.reason = source, field, message


@dataclass(frozen=True)
class Enterprise:
    """A permit holder (排污单位); ``region`` is its GB/T 2260 code."""

    id: str
    name: str
    region: str | None = None
    industry: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Limit:
    """The permitted concentrations of one pollutant at one outlet.

    ``parameter``: HJ 212 code (``a21026`` SO2); ``hourly``/``daily``: permitted hourly and
    daily-mean concentration [``unit``, mg/m³ or mg/L]; ``converted``: the limits apply to the
    reference-oxygen (折算) value at ``reference_o2`` [%] (GB 13223-2011 §5.2);
    ``rate_kg_h``: permitted emission rate [kg/h]; ``standard``: where the value comes from.
    """

    parameter: str
    unit: str
    hourly: float | None = None
    daily: float | None = None
    converted: bool = False
    reference_o2: float | None = None
    rate_kg_h: float | None = None
    standard: str | None = None


@dataclass(frozen=True)
class Monitoring:
    """One row of the self-monitoring table: ``automatic`` (CEMS, networked) or ``manual``
    with its frequency (free text, e.g. ``continuous``, ``1/quarter``)."""

    parameter: str
    mode: str
    frequency: str


@dataclass(frozen=True)
class Outlet:
    """A permitted outlet; ``site`` is the code of its ``Site(kind="outlet")``, ``mn`` the MN of
    its data logger, ``reporting_interval_s`` the interval the device must report at [s]
    (the offline rule's threshold)."""

    code: str
    name: str
    type: str
    kind: str
    site: str
    mn: str | None = None
    reporting_interval_s: int = 60
    limits: tuple[Limit, ...] = ()
    monitoring: tuple[Monitoring, ...] = ()

    def limit(self, parameter: str) -> Limit | None:
        """The limit of ``parameter`` at this outlet, or None."""
        return next((lim for lim in self.limits if lim.parameter == parameter), None)


@dataclass(frozen=True)
class AnnualTotal:
    """Permitted annual mass (许可排放量) of one pollutant for one year [t/a]."""

    parameter: str
    year: int
    tonnes: float


@dataclass(frozen=True)
class Permit:
    """A permit: its holder, validity ``[valid_from, valid_to]`` (dates, both included),
    outlets and annual totals. ``synthetic`` marks invented permits (examples, simulations)."""

    id: str
    enterprise: Enterprise
    valid_from: date
    valid_to: date
    outlets: tuple[Outlet, ...] = ()
    totals: tuple[AnnualTotal, ...] = ()
    issued_by: str | None = None
    synthetic: bool = False
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def outlet(self, key: str) -> Outlet | None:
        """The outlet with this outlet code (DA001) or site code, or None."""
        return next((o for o in self.outlets if key in (o.code, o.site)), None)

    def total(self, parameter: str, year: int) -> AnnualTotal | None:
        return next((t for t in self.totals if (t.parameter, t.year) == (parameter, year)), None)

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout (``docs/permits.md``)."""
        out = asdict(self)
        out["valid_from"] = self.valid_from.isoformat()
        out["valid_to"] = self.valid_to.isoformat()
        out["extra"] = dict(self.extra)
        for o in out["outlets"]:
            o["limits"] = list(o["limits"])
            o["monitoring"] = list(o["monitoring"])
        out["outlets"] = list(out["outlets"])
        out["totals"] = list(out["totals"])
        return out

    def with_limit(self, outlet: str, limit: Limit) -> Permit:
        """A copy with ``limit`` set (replaced or added) at ``outlet`` (code or site)."""
        found = self.outlet(outlet)
        if found is None:
            raise PermitError(f"permit {self.id} has no outlet {outlet!r}", field="outlet")
        limits = [x for x in found.limits if x.parameter != limit.parameter] + [limit]
        new = replace(found, limits=tuple(sorted(limits, key=lambda x: x.parameter)))
        outlets = tuple(new if o is found else o for o in self.outlets)
        return validate(replace(self, outlets=outlets))


# -- reading and checking ---------------------------------------------------------------------
class _Reader:
    """Typed access to one JSON object with the path of each field for errors."""

    def __init__(self, data: Any, path: str, source: str | None, strict: bool = True) -> None:
        if not isinstance(data, Mapping):
            raise PermitError("expected an object", source=source, field=path or "(top)")
        self.data, self.path, self.source = data, path, source
        #: False for a document read back from the store: the rules added since it was
        #: stored are not applied to it (one old document must not stop every permit read)
        self.strict = strict

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> PermitError:
        return PermitError(message, source=self.source, field=self._where(key))

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, got {value!r}")
        return value.strip()

    def number(self, key: str, *, required: bool = False, positive: bool = True) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise self.fail(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(key, f"must be a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise self.fail(key, f"must be a number, got {value!r}") from None
        if not math.isfinite(number) or (positive and number <= 0):
            raise self.fail(key, f"must be a finite number above 0, got {value!r}")
        return number

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "是"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "no", "0", "否", ""}:
            return False
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def day(self, key: str) -> date:
        text = self.text(key)
        try:
            return date.fromisoformat(str(text))
        except ValueError:
            raise self.fail(key, f"must be a date YYYY-MM-DD, got {text!r}") from None

    def items(self, key: str) -> list[_Reader]:
        value = self.data.get(key, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(key, "must be a list")
        return [
            _Reader(v, f"{self._where(key)}[{i}]", self.source, self.strict)
            for i, v in enumerate(value)
        ]

    def one_of(self, key: str, allowed: frozenset[str]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self.fail(key, f"must be one of {sorted(allowed)}, got {value!r}")
        return value


def _limit(r: _Reader) -> Limit:
    lim = Limit(
        parameter=str(r.text("parameter")),
        unit=str(r.text("unit")),
        hourly=r.number("hourly"),
        daily=r.number("daily"),
        converted=r.flag("converted", False),
        reference_o2=r.number("reference_o2", positive=False),
        rate_kg_h=r.number("rate_kg_h"),
        standard=r.text("standard", required=False),
    )
    if lim.hourly is None and lim.daily is None and lim.rate_kg_h is None:
        raise r.fail("hourly", "a limit needs at least one of hourly, daily, rate_kg_h")
    if lim.converted and (lim.reference_o2 is None or not 0 <= lim.reference_o2 < 21):
        raise r.fail("reference_o2", "a converted limit needs a reference O2 in [0, 21) %")
    if r.strict and not lim.converted and lim.reference_o2 is not None:
        # a reference O2 only means something for a converted limit (GB 13223-2011 §5.2):
        # taken without ``converted`` the measured value was compared (review 22, #5)
        raise r.fail(
            "converted", "a limit with a reference O2 is a converted limit: set converted true"
        )
    _code(r, "parameter", lim.parameter)
    return lim


def _code(r: _Reader, key: str, code: str) -> str:
    """``code``, read from ``key``; strictly read, it must be an HJ 212-2017 code: the rules
    look readings up by it (Appendix B: a letter and five digits), and a name such as SO2
    matches no reading and is never evaluated (review 22, finding 5)."""
    if r.strict and not _HJ212_CODE.fullmatch(code):
        known = {c.en.lower(): c.code for c in POLLUTANTS.values()}
        hint = known.get(code.lower())
        raise r.fail(
            key,
            f"must be an HJ 212-2017 code (a21026, w01018 …), got {code!r}"
            + (f": {hint}?" if hint else ""),
        )
    return code


def limit_from_dict(data: Any, *, source: str | None = None, path: str = "") -> Limit:
    """One limit from its JSON object (the API's PUT body, a CSV row)."""
    return _limit(_Reader(data, path, source))


#: An HJ 212-2017 pollutant code (Appendix B): a letter and five digits.
_HJ212_CODE = re.compile(r"[a-z]\d{5}")
#: The longest reporting interval an outlet may state [s]. CHOICE: a day (HJ 212's data
#: are real-time, minute, hourly and daily records); it also keeps the value in the
#: store's 32-bit column.
MAX_INTERVAL_S = 86_400


def _outlet(r: _Reader) -> Outlet:
    interval = r.number("reporting_interval_s", positive=r.strict)
    if not r.strict and interval is not None and interval < 1:
        # a document stored before the rule below, whose 0.5 became 0: read with the
        # default, so that it cannot stop every permit read (review 22, finding 1)
        interval = None
    if (
        r.strict
        and interval is not None
        and (interval != int(interval) or not 1 <= interval <= MAX_INTERVAL_S)
    ):
        # 0.5 was stored as 0, which every later read refused, so no permit could be read
        # or evaluated any more; 3e9 overflowed the store's column (review 22, finding 1)
        raise r.fail(
            "reporting_interval_s",
            f"must be whole seconds from 1 to {MAX_INTERVAL_S}, got {interval:g}",
        )
    return Outlet(
        code=str(r.text("code")),
        name=str(r.text("name")),
        type=r.one_of("type", OUTLET_TYPES),
        kind=r.one_of("kind", OUTLET_KINDS),
        site=str(r.text("site")),
        mn=r.text("mn", required=False),
        reporting_interval_s=60 if interval is None else int(interval),
        limits=tuple(_limit(x) for x in r.items("limits")),
        monitoring=tuple(
            Monitoring(
                str(m.text("parameter")),
                m.one_of("mode", MONITORING_MODES),
                str(m.text("frequency")),
            )
            for m in r.items("monitoring")
        ),
    )


def validate(permit: Permit, *, source: str | None = None) -> Permit:
    """Check the cross-field rules (unique codes, sites, parameters; period); the permit."""
    if permit.valid_to < permit.valid_from:
        raise PermitError("valid_to is before valid_from", source=source, field="valid_to")
    seen: dict[str, str] = {}
    for i, o in enumerate(permit.outlets):
        for key in (o.code, o.site):
            if key in seen:
                raise PermitError(f"{key!r} appears twice", source=source, field=f"outlets[{i}]")
            seen[key] = o.code
        params = [lim.parameter for lim in o.limits]
        if len(set(params)) != len(params):
            raise PermitError(
                "a pollutant has two limits", source=source, field=f"outlets[{i}].limits"
            )
    keys = [(t.parameter, t.year) for t in permit.totals]
    if len(set(keys)) != len(keys):
        raise PermitError("a pollutant-year appears twice", source=source, field="totals")
    return permit


def permit_from_dict(data: Any, *, source: str | None = None, strict: bool = True) -> Permit:
    """A permit from the JSON layout of ``docs/permits.md``; bad input: :class:`PermitError`
    naming ``source`` and the field. ``strict=False`` reads a document back from the store
    without the input rules added after it may have been stored."""
    r = _Reader(data, "", source, strict)
    e = _Reader(r.data.get("enterprise"), "enterprise", source)
    enterprise = Enterprise(
        id=str(e.text("id")),
        name=str(e.text("name")),
        region=e.text("region", required=False),
        industry=e.text("industry", required=False),
        address=e.text("address", required=False),
    )
    totals = []
    for t in r.items("totals"):
        year = t.number("year", required=True)
        if year is None or year != int(year) or not 1900 < year < 3000:
            raise t.fail("year", f"must be a year, got {t.data.get('year')!r}")
        tonnes = t.number("tonnes", required=True)
        assert tonnes is not None
        parameter = _code(t, "parameter", str(t.text("parameter")))
        totals.append(AnnualTotal(parameter, int(year), tonnes))
    extra = r.data.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise r.fail("extra", "must be an object")
    permit = Permit(
        id=str(r.text("id")),
        enterprise=enterprise,
        valid_from=r.day("valid_from"),
        valid_to=r.day("valid_to"),
        outlets=tuple(_outlet(o) for o in r.items("outlets")),
        totals=tuple(totals),
        issued_by=r.text("issued_by", required=False),
        synthetic=r.flag("synthetic", False),
        note=r.text("note", required=False),
        extra=dict(extra),
    )
    return validate(permit, source=source)
