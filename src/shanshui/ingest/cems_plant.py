"""A SYNTHETIC plant for the CEMS simulator: its outlets, its permit and its scenario.

Nothing here was measured. A plant (``plant(n, …)``) has two coal-fired boiler stacks
(flue gas, HJ 212 ST 31), optionally a gas-turbine stack driven by the real hourly series
of ``data/sources/gt_2015.csv.gz`` (UCI data set 551, CC BY 4.0; see
:mod:`shanshui.ingest.cems_model`), and a waste-water outlet (ST 32). Every site name ends
in "(synthetic)", every site code starts with ``SYN`` and every device MN with ``SYN``.

The **scenario** (:class:`Scenario`) lists every injected event with its hours, so a test
can derive what the platform must conclude from it without running the platform's code:

==============  ===========================================================================
event kind      effect on the device's data (HJ 212-2017 §6.6 data flags)
==============  ===========================================================================
exceedance      the converted (折算) hourly concentration of ``parameter`` is ``factor`` ×
                its permitted limit in every minute of the hours; flag N (valid data)
stop            the unit is stopped (停运): load 0, flow 0, O2 ≈ ambient; flag F on every
                code; no converted values; the hour before and after run at low load
                (shut-down, start-up)
calibration     the analyser(s) of ``parameter`` (None: SO2 and NOx) read span gas, twice
                the limit; flag C on those codes (values above the limit that must not count)
maintenance     flag M on every analyser code (particulate, SO2, NOx, O2; COD, NH3-N)
fault           ``parameter``'s analyser (None: SO2 / COD) reads 0; flag D
manual          ``parameter``'s value (None: SO2 / COD) is set by hand to its typical value;
                flag S
outage          the device is silent: no frame for those hours, ever (data lost)
==============  ===========================================================================

Events are whole local (Beijing) hours; events of one outlet never overlap and are at
least :data:`MIN_GAP_HOURS` apart (so each yields its own alarm).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np

from shanshui.errors import CallerError
from shanshui.hj212 import CST

#: Flue-gas pollutants sent with converted (Zs) values (HJ 212-2017 Appendix B codes):
#: a34013 颗粒物 particulate, a21026 SO2, a21002 NOx (as NO2) [mg/m³].
FLUE_POLLUTANTS: Final = ("a34013", "a21026", "a21002")
#: Every flue-gas code sent: pollutants, a19001 O2 [%], a00000 废气流量 [m³/s, Cou m³],
#: a01012 temperature [°C], a01013 static pressure [kPa], a01014 humidity [%].
FLUE_CODES: Final = (*FLUE_POLLUTANTS, "a19001", "a00000", "a01012", "a01013", "a01014")
#: Extra codes of the gas-turbine outlet: a21005 CO [mg/m³] (from the real series).
GT_EXTRA: Final = ("a21005",)
#: Waste-water pollutants: w01018 COD, w21003 NH3-N [mg/L].
WATER_POLLUTANTS: Final = ("w01018", "w21003")
#: Every waste-water code sent: pollutants, w01001 pH [1], w00000 flow [L/s, Cou m³].
WATER_CODES: Final = (*WATER_POLLUTANTS, "w01001", "w00000")
#: Analyser codes (flag M during maintenance).
ANALYSERS: Final = {"flue": (*FLUE_POLLUTANTS, "a19001"), "water": WATER_POLLUTANTS}

#: (name, unit) of each code (HJ 212-2017 Appendix B; Cou units: m³ for flows, kg for
#: pollutants — the HJ 212-2017 table's 排放量 unit).
CODES: Final[dict[str, tuple[str, str]]] = {
    "a34013": ("颗粒物 particulate", "mg/m³"),
    "a21026": ("二氧化硫 SO2", "mg/m³"),
    "a21002": ("氮氧化物 NOx (as NO2)", "mg/m³"),
    "a21005": ("一氧化碳 CO", "mg/m³"),
    "a19001": ("氧气含量 O2", "%"),
    "a00000": ("废气流量 flue-gas flow (dry, standard)", "m³/s"),
    "a01012": ("烟气温度 flue-gas temperature", "°C"),
    "a01013": ("烟气压力 flue-gas static pressure", "kPa"),
    "a01014": ("烟气湿度 flue-gas humidity", "%"),
    "w01018": ("化学需氧量 COD", "mg/L"),
    "w21003": ("氨氮 NH3-N", "mg/L"),
    "w01001": ("pH 值 pH", "1"),
    "w00000": ("污水流量 waste-water flow", "L/s"),
}

EVENT_KINDS: Final = (
    "exceedance",
    "stop",
    "calibration",
    "maintenance",
    "fault",
    "manual",
    "outage",
)
#: HJ 212-2017 §6.6 data flag of each event kind (exceedance keeps N; outage sends nothing).
EVENT_FLAGS: Final[dict[str, str]] = {
    "stop": "F",
    "calibration": "C",
    "maintenance": "M",
    "fault": "D",
    "manual": "S",
}
#: Hours between two events of one outlet (the hour between lets every alarm close).
MIN_GAP_HOURS: Final = 3


class ScenarioError(CallerError):
    """A scenario that cannot be simulated (overlapping events, unknown outlet, …)."""


@dataclass(frozen=True)
class Outlet:
    """One outlet (排放口) of the synthetic plant and its device's model parameters.

    ``limits``: permitted hourly concentration per pollutant code [mg/m³ at ``o2_ref`` for
    flue gas (converted, 折算); mg/L for waste water]. ``base``: typical (converted)
    concentration. ``flow_full``: flow at full load [flue: m³/h, dry, standard conditions;
    water: L/s]. ``o2_full`` [%] and ``o2_slope`` [% per unit load drop]: O2 = o2_full +
    o2_slope × (1 − load). ``driver``: ``"synthetic"`` or ``"gt_2015"`` (the real series).
    """

    site: str
    outlet: str
    name: str
    kind: str
    limits: Mapping[str, float]
    base: Mapping[str, float]
    flow_full: float
    o2_ref: float | None = None
    o2_full: float = 5.5
    o2_slope: float = 6.0
    driver: str = "synthetic"
    unit_type: str = ""
    standard: str = ""

    @property
    def st(self) -> str:
        """HJ 212 system code: 31 flue gas, 32 waste water (HJ 212-2017 Table 6)."""
        return "31" if self.kind == "flue" else "32"

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes this outlet's device sends."""
        if self.kind == "water":
            return WATER_CODES
        return FLUE_CODES + (GT_EXTRA if self.driver == "gt_2015" else ())

    @property
    def pollutants(self) -> tuple[str, ...]:
        return FLUE_POLLUTANTS if self.kind == "flue" else WATER_POLLUTANTS


@dataclass(frozen=True)
class Event:
    """An injected event: ``kind`` (:data:`EVENT_KINDS`) at ``site`` for ``hours`` whole
    hours from ``start`` (aware; the start of a local hour)."""

    kind: str
    site: str
    start: datetime
    hours: int
    parameter: str | None = None
    factor: float = 1.5

    @property
    def end(self) -> datetime:
        """The first hour after the event."""
        return self.start + timedelta(hours=self.hours)

    @property
    def flag(self) -> str | None:
        """The data flag the event puts on the affected codes (None: exceedance, outage)."""
        return EVENT_FLAGS.get(self.kind)

    def codes(self, outlet: Outlet) -> tuple[str, ...]:
        """The codes whose values or flags the event changes."""
        if self.kind in ("stop", "outage"):
            return outlet.codes
        if self.kind == "maintenance":
            return ANALYSERS[outlet.kind]
        if self.parameter is not None:
            return (self.parameter,)
        if self.kind == "calibration":
            return ("a21026", "a21002") if outlet.kind == "flue" else WATER_POLLUTANTS
        return ("a21026",) if outlet.kind == "flue" else ("w01018",)


@dataclass(frozen=True)
class Scenario:
    """A synthetic plant's month (or any period): outlets, events, what is sent.

    ``start``: the first hour (aware); ``days``: length; ``minute_days``: minute frames
    (CN 2051) are sent for the first ``minute_days`` days (None: every day), hourly frames
    (CN 2061) always. Deterministic from ``seed``.
    """

    plant: int
    enterprise: str
    name: str
    start: datetime
    days: int
    seed: int
    outlets: tuple[Outlet, ...]
    events: tuple[Event, ...] = ()
    minute_days: int | None = None
    annual_permitted: Mapping[str, float] = field(default_factory=dict)

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def outlet(self, site: str) -> Outlet:
        for o in self.outlets:
            if o.site == site:
                return o
        raise ScenarioError(f"no outlet {site!r} in plant {self.plant}")

    def events_at(self, site: str, kind: str | None = None) -> list[Event]:
        """The events of one outlet (of one kind), in time order."""
        return sorted(
            (e for e in self.events if e.site == site and kind in (None, e.kind)),
            key=lambda e: e.start,
        )

    def with_events(self, events: Sequence[Event]) -> Scenario:
        """The same plant and period with these events instead (checked)."""
        out = replace(self, events=tuple(sorted(events, key=lambda e: (e.site, e.start))))
        out.check()
        return out

    def check(self) -> None:
        """Raise :class:`ScenarioError` for events outside the period, not on an hour,
        of an unknown kind or outlet, overlapping or closer than :data:`MIN_GAP_HOURS`."""
        if self.start.tzinfo is None:
            raise ScenarioError("the scenario's start must be timezone-aware")
        if self.start.astimezone(CST).replace(tzinfo=None) != _hour_floor(self.start):
            raise ScenarioError("the scenario must start on a whole hour")
        for site in {e.site for e in self.events}:
            outlet = self.outlet(site)
            last_end: datetime | None = None
            for e in self.events_at(site):
                if e.kind not in EVENT_KINDS:
                    raise ScenarioError(f"unknown event kind {e.kind!r}")
                if e.hours < 1 or e.start < self.start or e.end > self.end:
                    raise ScenarioError(f"{e} lies outside the scenario's period")
                if (e.start - self.start) % timedelta(hours=1):
                    raise ScenarioError(f"{e} does not start on a whole hour")
                if e.parameter is not None and e.parameter not in outlet.codes:
                    raise ScenarioError(f"{e}: {outlet.site} does not send {e.parameter}")
                if e.kind == "exceedance" and (e.parameter not in outlet.limits or e.factor <= 1.1):
                    raise ScenarioError(f"{e}: an exceedance needs a limited code, factor > 1.1")
                if last_end is not None and e.start < last_end + timedelta(hours=MIN_GAP_HOURS):
                    raise ScenarioError(f"{e} overlaps or follows the previous event too closely")
                last_end = e.end


def _hour_floor(t: datetime) -> datetime:
    return t.astimezone(CST).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def device_identity(site: str, secret: str = "shanshui") -> tuple[str, str]:
    """(MN, password) of a synthetic CEMS device: MN = ``SYN`` + 21 upper-case hex digits
    of SHA-256(site) (24 characters, HJ 212-2017 §6.3.2; the prefix marks it synthetic);
    password = 6 digits of HMAC-SHA-256(secret, MN), as :mod:`shanshui.ingest.simulate`."""
    mn = "SYN" + hashlib.sha256(f"shanshui-cems:{site}".encode()).hexdigest()[:21].upper()
    digest = hmac.new(secret.encode(), mn.encode(), hashlib.sha256).digest()
    return mn, f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


# ----------------------------------------------------------------------------- the plant
#: Ultra-low emission values for coal-fired units (超低排放, 2015 work plan): particulate 10,
#: SO2 35, NOx 50 mg/m³ at 6 % O2 (reference/sources/gb13223_limits.csv).
ULTRA_LOW: Final = {"a34013": 10.0, "a21026": 35.0, "a21002": 50.0}
#: GB 13223-2011 Table 1, gas turbine burning other gas fuel: particulate 10, SO2 100,
#: NOx 120 mg/m³ at 15 % O2. Chosen for the real turbine, whose 2015 NOx (≤ 119.68 mg/m³)
#: stays below it; a natural-gas turbine (NOx 50) would exceed most hours.
GAS_TURBINE: Final = {"a34013": 10.0, "a21026": 100.0, "a21002": 120.0}
#: GB 18918-2002 class 1-A daily limits, used here as the permit's concentration limits
#: (a choice for the synthetic plant's waste water): COD 50, NH3-N 5 mg/L.
WATER_1A: Final = {"w01018": 50.0, "w21003": 5.0}


def plant(
    n: int = 1,
    *,
    start: datetime,
    days: int = 30,
    seed: int | None = None,
    gas_turbine: bool = True,
    minute_days: int | None = None,
    events: Sequence[Event] | None = None,
) -> Scenario:
    """Synthetic plant ``n`` (1–99) from ``start`` for ``days``, with the default events
    (:func:`default_events`, drawn from ``seed``, default ``n``) unless ``events`` given."""
    if not 1 <= n <= 99:
        raise ScenarioError("plant numbers run from 1 to 99")
    if days < 1:
        raise ScenarioError("a scenario lasts at least one day")
    p = f"SYN{n:02d}"
    outlets = [
        Outlet(
            f"{p}-DA001", "DA001", f"合成电厂{n}号 1号机组烟囱 Unit 1 stack (synthetic)", "flue",
            ULTRA_LOW, {"a34013": 4.0, "a21026": 18.0, "a21002": 32.0}, 1.2e6, 6.0, 5.5, 6.0,
            unit_type="coal-fired boiler (ultra-low emission)",
            standard="超低排放 2015 work plan (10/35/50 mg/m³ at 6 % O2)",
        ),
        Outlet(
            f"{p}-DA002", "DA002", f"合成电厂{n}号 2号机组烟囱 Unit 2 stack (synthetic)", "flue",
            ULTRA_LOW, {"a34013": 5.0, "a21026": 22.0, "a21002": 35.0}, 1.0e6, 6.0, 6.0, 6.5,
            unit_type="coal-fired boiler (ultra-low emission)",
            standard="超低排放 2015 work plan (10/35/50 mg/m³ at 6 % O2)",
        ),
    ]  # fmt: skip
    if gas_turbine:
        outlets.append(
            Outlet(
                f"{p}-DA003", "DA003",
                f"合成电厂{n}号 燃机烟囱 gas-turbine stack (synthetic; NOx, CO real UCI 551)",
                "flue", GAS_TURBINE, {"a34013": 2.0, "a21026": 3.0}, 1.5e6, 15.0, 14.2, 2.5,
                driver="gt_2015", unit_type="gas turbine (other gas fuel)",
                standard="GB 13223-2011 Table 1 (10/100/120 mg/m³ at 15 % O2)",
            )
        )  # fmt: skip
    outlets.append(
        Outlet(
            f"{p}-DW001", "DW001", f"合成电厂{n}号 废水总排口 waste-water outlet (synthetic)",
            "water", WATER_1A, {"w01018": 24.0, "w21003": 1.2}, 25.0,
            unit_type="industrial waste water", standard="GB 18918-2002 class 1-A",
        )
    )  # fmt: skip
    scenario = Scenario(
        plant=n,
        enterprise=f"{p}",
        name=f"合成电厂{n}号 Synthetic power plant {n} (synthetic)",
        start=start,
        days=days,
        seed=n if seed is None else seed,
        outlets=tuple(outlets),
        minute_days=minute_days,
        annual_permitted=_annual_permitted(outlets),
    )
    chosen = default_events(scenario) if events is None else events
    return scenario.with_events(chosen)


def _annual_permitted(outlets: Sequence[Outlet]) -> dict[str, float]:
    """Permitted annual totals [t/a]: twice the plant's design emission (typical converted
    concentration at 75 % load, all year) — generous, so a normal year stays within."""
    out: dict[str, float] = {}
    for o in outlets:
        for code in o.pollutants:
            base = o.base.get(code, 60.0 if code == "a21002" else 0.0)  # the turbine's NOx
            if o.kind == "flue":
                tonnes = base * o.flow_full * 0.75 * 8760 * 1e-9
            else:
                tonnes = base * o.flow_full * 3.6 * 0.75 * 8760 * 1e-6
            out[code] = out.get(code, 0.0) + 2 * tonnes
    return {code: float(np.ceil(v)) for code, v in out.items()}


def default_events(scenario: Scenario) -> list[Event]:
    """A month's worth of events per outlet, drawn deterministically from the seed and
    scaled to the period: flue gas: two exceedances (SO2, NOx), a stop of 6–30 h, a
    calibration, a maintenance, an outage, a fault; waste water: one COD exceedance, a
    calibration, an outage. Each event lies in its own slot of the period."""
    rng = np.random.default_rng([scenario.seed, 212])
    out: list[Event] = []
    for o in scenario.outlets:
        if o.kind == "flue":
            plan: list[tuple[str, int, str | None]] = [
                ("exceedance", int(rng.integers(1, 4)), "a21026"),
                ("stop", int(rng.integers(6, 31)), None),
                ("calibration", 1, None),
                ("exceedance", int(rng.integers(1, 3)), "a21002"),
                ("maintenance", int(rng.integers(2, 6)), None),
                ("outage", int(rng.integers(2, 7)), None),
                ("fault", int(rng.integers(1, 4)), None),
            ]
        else:
            plan = [
                ("exceedance", int(rng.integers(2, 5)), "w01018"),
                ("calibration", 1, None),
                ("outage", int(rng.integers(2, 7)), None),
            ]
        slot = scenario.hours // len(plan)
        # each event needs its hours, the shut-down/start-up hours and the gaps around it
        usable = [(kind, h, p) for kind, h, p in plan if h + 2 * MIN_GAP_HOURS + 2 <= slot]
        for i, (kind, hours, parameter) in enumerate(usable):
            room = slot - hours - 2 * MIN_GAP_HOURS - 2
            offset = i * slot + MIN_GAP_HOURS + 1 + int(rng.integers(0, room + 1))
            factor = round(float(rng.uniform(1.3, 2.0)), 2)
            out.append(
                Event(
                    kind, o.site, scenario.start + timedelta(hours=offset), hours,
                    parameter, factor if kind == "exceedance" else 1.5,
                )
            )  # fmt: skip
    return out


# ------------------------------------------------------------------------------ permit
def reporting_interval_s(scenario: Scenario, outlet: Outlet) -> int:
    """The interval the outlet's device reports at [s]: 60 where it sends minute data all
    the time, else 3600 (hourly data; the offline rule's threshold)."""
    minutes_always = outlet.kind == "flue" and scenario.minute_days is None
    return 60 if minutes_always else 3600


def permit_document(scenario: Scenario, secret: str = "shanshui") -> dict[str, Any]:
    """The plant's permit (排污许可证) in the JSON layout of ``docs/permits.md``
    (:func:`shanshui.permits.permit_from_dict` reads it): enterprise, validity (the
    scenario's year and four more), outlets with their site codes, MNs and reporting
    intervals, the permitted hourly concentration of each pollutant (converted at the
    reference O2 for flue gas), and the plant's permitted annual totals [t/a] for the
    validity years. Marked synthetic."""
    year = scenario.start.astimezone(CST).year
    return {
        "id": f"SYN{scenario.plant:02d}-PERMIT",
        "enterprise": {"id": scenario.enterprise, "name": scenario.name, "industry": "4411"},
        "valid_from": f"{year}-01-01",
        "valid_to": f"{year + 4}-12-31",
        "synthetic": True,
        "issued_by": "shanshui simulate-cems (synthetic)",
        "note": "SYNTHETIC permit of a simulated plant; no real enterprise.",
        "outlets": [
            {
                "code": o.outlet,
                "name": o.name,
                "type": "主要",
                "kind": "air" if o.kind == "flue" else "water",
                "site": o.site,
                "mn": device_identity(o.site, secret)[0],
                "reporting_interval_s": reporting_interval_s(scenario, o),
                "limits": [
                    {
                        "parameter": code,
                        "unit": CODES[code][1],
                        "hourly": limit,
                        "converted": o.kind == "flue",
                        "reference_o2": o.o2_ref if o.kind == "flue" else None,
                        "standard": o.standard,
                    }
                    for code, limit in o.limits.items()
                ],
                "monitoring": [
                    {"parameter": code, "mode": "automatic", "frequency": "continuous"}
                    for code in o.pollutants
                ],
            }
            for o in scenario.outlets
        ],
        "totals": [
            {"parameter": code, "year": y, "tonnes": tonnes}
            for y in range(year, year + 5)
            for code, tonnes in scenario.annual_permitted.items()
        ],
    }


def scenario_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as JSON-ready data: plant, period, outlets and every injected event."""
    return {
        "synthetic": True,
        "plant": scenario.plant,
        "enterprise": scenario.enterprise,
        "name": scenario.name,
        "start": scenario.start.isoformat(),
        "days": scenario.days,
        "seed": scenario.seed,
        "minute_days": scenario.minute_days,
        "outlets": [
            {"site": o.site, "outlet": o.outlet, "name": o.name, "st": o.st, "driver": o.driver}
            for o in scenario.outlets
        ],
        "events": [
            {
                "kind": e.kind,
                "site": e.site,
                "start": e.start.isoformat(),
                "end": e.end.isoformat(),
                "hours": e.hours,
                "parameter": e.parameter,
                "flag": e.flag,
                **({"factor": e.factor} if e.kind == "exceedance" else {}),
            }
            for e in scenario.events
        ],
    }
