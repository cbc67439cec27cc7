"""The SYNTHETIC plant's physics: minute and hourly values of each outlet (vectorised).

Flue gas (per minute, load L ∈ [0.35, 1] — 0 while stopped):

* load follows a daily curve, highest at 15:00 and lowest at 03:00 Beijing time, with a
  slow random wander; the gas turbine's load is its real hourly energy yield
  ``TEY / 180 MWh`` (UCI data set 551);
* O2 [%] = o2_full + o2_slope × (1 − L) (more excess air at part load); ≈ 20.6 while stopped;
* dry standard flow Q [m³/h] = flow_full × L × (21 − o2_full) / (21 − O2) (flue gas per fuel
  grows with excess air); a00000 is sent in m³/s, its Cou in m³;
* converted concentration (折算) Z: typical value × a slow log-normal wander, kept below
  0.8 × limit, or ``factor`` × limit in exceedance hours; the gas turbine's NOx and CO are
  the real hourly values (read as mg/m³ at 15 % O2 — an assumption: the UCI page gives mg/m³
  and not the oxygen; gas-turbine emissions are customarily stated at 15 %); the measured
  concentration is C = Z × (21 − O2) / (21 − O2_ref) (GB 13223-2011 §5.2; HJ 75-2017);
* pollutant Cou [kg] = C × Q × 10⁻⁶ per period (HJ 75-2017 emission rate, summed per
  minute).

Waste water (per minute): flow [L/s] follows two shifts (08–20 h busier); COD and NH3-N are
batch analysers with one result per hour (HJ 355/HJ 356-style cycles: constant over the
hour); pH wanders around 7.3; Cou of w00000 in m³, of pollutants in kg = mg/L × m³ × 10⁻³.

Hourly values (CN 2061) aggregate the minutes: Avg = mean, Min/Max = extremes of the
minutes' Min/Max, Cou = sum; the hourly ZsAvg is the mean of the minute converted values
(choice: HJ 75-2017 does not fix whether to convert hourly means or average minute
conversions, see reference/sources/README.md). Events are whole hours, so every minute of
an hour carries the hour's data flag (HJ 212-2017 §6.6). Values are rounded to what the
device sends (:data:`DIGITS`) after aggregation, so the hourly table equals the frames.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Final

import numpy as np
import pandas as pd

from shanshui.hj212 import CST
from shanshui.ingest.cems_plant import FLUE_POLLUTANTS, WATER_POLLUTANTS, Event, Outlet, Scenario

#: Decimals sent per code (and per statistic for Cou).
DIGITS: Final[dict[str, int]] = {
    "a34013": 3, "a21026": 3, "a21002": 3, "a21005": 3, "a19001": 2, "a00000": 3,
    "a01012": 1, "a01013": 3, "a01014": 2, "w01018": 2, "w21003": 3, "w01001": 2,
    "w00000": 3,
}  # fmt: skip
#: Decimals of Cou: m³ of flue gas 1, m³ of water 3, kg of pollutant 4.
COU_DIGITS: Final[dict[str, int]] = {"a00000": 1, "w00000": 3}
KG_DIGITS: Final = 4
#: The gas turbine's rated hourly energy yield [MWh], a little above the series' 179.5.
GT_RATED_TEY: Final = 180.0

Table = dict[str, dict[str, np.ndarray]]


@cache
def gt_2015() -> pd.DataFrame:
    """The real hourly gas-turbine series shipped in ``shanshui/data/sources`` (UCI data set
    551, 2015, CC BY 4.0; 7,384 rows in time order, no timestamps): columns stripped of the
    original header's stray space."""
    ref = resources.files("shanshui") / "data" / "sources" / "gt_2015.csv.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = pd.read_csv(text)
    table.columns = [c.strip() for c in table.columns]
    return table


@dataclass
class Series:
    """One outlet's simulated data. ``minute``/``hour``: code → statistic (``Avg``, ``Min``,
    ``Max``, ``Cou``, ``ZsAvg``, ``ZsMin``, ``ZsMax``) → values (NaN: not sent);
    ``minute_flag``/``hour_flag``: code → flags; ``silent``: hours the device sends nothing
    (outages); ``load``: the unit's load per minute [1]."""

    outlet: Outlet
    minute: Table
    minute_flag: dict[str, np.ndarray]
    hour: Table
    hour_flag: dict[str, np.ndarray]
    silent: np.ndarray
    load: np.ndarray


def _ar1(rng: np.random.Generator, n: int, rho: float, sigma: float) -> np.ndarray:
    """A stationary AR(1) series of standard deviation ``sigma``."""
    z = rng.standard_normal(n)
    out = np.empty(n)
    acc = z[0]
    scale = np.sqrt(1 - rho * rho)
    for i in range(n):
        acc = rho * acc + scale * z[i] if i else acc
        out[i] = acc
    return sigma * out


def simulate_outlet(scenario: Scenario, outlet: Outlet) -> Series:
    """Minute and hourly values of one outlet over the scenario (see the module docstring)."""
    index = scenario.outlets.index(outlet)
    rng = np.random.default_rng([scenario.seed, scenario.plant, index, 2017])
    hours = scenario.hours
    first = scenario.start.astimezone(CST)
    hod = (first.hour + np.arange(hours)) % 24
    flags = {code: np.full(hours, "N", dtype="<U1") for code in outlet.codes}
    events = scenario.events_at(outlet.site)
    masks: dict[str, np.ndarray] = {}
    for kind in ("stop", "calibration", "maintenance", "fault", "manual", "exceedance", "outage"):
        masks[kind] = np.zeros(hours, bool)
    per_event = []
    for e in events:
        mask = np.zeros(hours, bool)
        i0 = int((e.start - scenario.start) / timedelta(hours=1))
        mask[i0 : i0 + e.hours] = True
        masks[e.kind] |= mask
        per_event.append((e, mask))
        if e.flag is not None:
            for code in e.codes(outlet):
                flags[code][mask] = e.flag
    if outlet.kind == "flue":
        minute = _flue(scenario, outlet=outlet, rng=rng, hod=hod, masks=masks, per_event=per_event)
    else:
        minute = _water(scenario, outlet=outlet, rng=rng, hod=hod, masks=masks, per_event=per_event)
    load = minute.pop("_load")["Avg"]
    hour = _hourly(minute, outlet)
    minute_flag = {code: np.repeat(f, 60) for code, f in flags.items()}
    return Series(outlet, _round(minute, outlet), minute_flag, hour, flags, masks["outage"], load)


def _spread(rng: np.random.Generator, avg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Within-minute minimum and maximum around a minute mean (±1 % typical)."""
    lo = avg * (1 - np.abs(rng.normal(0, 0.01, avg.shape)))
    hi = avg * (1 + np.abs(rng.normal(0, 0.01, avg.shape)))
    return lo, hi


def _stat(rng: np.random.Generator, avg: np.ndarray) -> dict[str, np.ndarray]:
    lo, hi = _spread(rng, avg)
    return {"Min": lo, "Avg": avg, "Max": hi}


def _minutes(hourly: np.ndarray) -> np.ndarray:
    """Linear interpolation of an hourly series (at the hours' middles) to minutes."""
    n = len(hourly)
    t = (np.arange(n * 60) + 0.5) / 60
    out: np.ndarray = np.interp(t, np.arange(n) + 0.5, hourly)
    return out


def _flue(
    scenario: Scenario,
    *,
    outlet: Outlet,
    rng: np.random.Generator,
    hod: np.ndarray,
    masks: dict[str, np.ndarray],
    per_event: list[tuple[Event, np.ndarray]],
) -> Table:
    hours = scenario.hours
    n = hours * 60
    ref = outlet.o2_ref if outlet.o2_ref is not None else 21.0
    real = None
    if outlet.driver == "gt_2015":
        gt = gt_2015()
        rows = np.arange(hours) % len(
            gt
        )  # row i = hour i of the scenario (the data withhold dates)
        real = {c: gt[c].to_numpy(float)[rows] for c in ("TEY", "NOX", "CO")}
        load_h = real["TEY"] / GT_RATED_TEY
    else:
        load_h = 0.72 + 0.22 * np.cos(2 * np.pi * (hod - 15) / 24) + _ar1(rng, hours, 0.7, 0.03)
    load_h = np.clip(load_h, 0.35, 1.0)
    stop_h = masks["stop"]
    # shut-down and start-up: the hour before and the hour after a stop run at low load
    ramp = np.zeros(hours, bool)
    ramp[:-1] |= stop_h[1:]
    ramp[1:] |= stop_h[:-1]
    ramp &= ~stop_h
    load_h = np.where(ramp, np.minimum(load_h, 0.45), load_h)
    stop = np.repeat(stop_h, 60)
    load = np.clip(_minutes(load_h) + rng.normal(0, 0.005, n), 0.3, 1.0)
    load = np.where(np.repeat(ramp, 60), np.minimum(load, 0.45), load)
    load = np.where(stop, 0.0, load)

    o2 = outlet.o2_full + outlet.o2_slope * (1 - load) + rng.normal(0, 0.08, n)
    o2 = np.where(stop, 20.6 + rng.normal(0, 0.05, n), o2)
    flow = outlet.flow_full * load * (21 - outlet.o2_full) / (21 - o2)  # [m³/h], 0 when stopped
    to_measured = (21 - o2) / (21 - ref)  # C = Z × (21 − O2)/(21 − O2ref), GB 13223-2011 §5.2

    out: Table = {}
    codes = outlet.codes
    for code in codes:
        if code not in (*FLUE_POLLUTANTS, "a21005"):
            continue
        limit = outlet.limits.get(code, np.inf)
        if real is not None and code in ("a21002", "a21005"):
            wiggle = rng.normal(0, 0.01, (hours, 60))
            wiggle -= wiggle.mean(axis=1, keepdims=True)  # the hour's mean stays the real value
            z = (real["NOX" if code == "a21002" else "CO"][:, None] * (1 + wiggle)).ravel()
        else:
            wander = np.exp(_ar1(rng, hours, 0.8, 0.15))
            z = outlet.base[code] * np.repeat(wander, 60) * (1 + rng.normal(0, 0.03, n))
            z = np.minimum(z, 0.8 * limit)
        c = z * to_measured
        for e, mask in per_event:
            m = np.repeat(mask, 60)
            kind = e.kind
            if code not in e.codes(outlet):
                continue
            if kind == "exceedance":
                jitter = 1 + 0.02 * np.clip(rng.standard_normal(n), -2, 2)
                z = np.where(m, e.factor * limit * jitter, z)
                c = np.where(m, z * to_measured, c)
            elif kind == "calibration":  # span gas at twice the limit, read as measured
                c = np.where(m, 2 * limit * (1 + rng.normal(0, 0.005, n)), c)
                z = np.where(m, c / to_measured, z)
            elif kind == "fault":
                c = np.where(m, 0.0, c)
                z = np.where(m, 0.0, z)
            elif kind == "manual":  # the typical value typed in by the operator
                c = np.where(m, outlet.base.get(code, 1.0), c)
                z = np.where(m, c / to_measured, z)
        c = np.where(stop, np.abs(rng.normal(0.3, 0.1, n)), c)
        z = np.where(stop, np.nan, z)  # no conversion at ambient O2 while stopped (choice)
        stat = _stat(rng, c)
        zmin, zmax = _spread(rng, z)
        stat.update(ZsMin=zmin, ZsAvg=z, ZsMax=zmax, Cou=c * flow / 60 * 1e-6)
        out[code] = stat
    out["a19001"] = _stat(rng, o2)
    out["a00000"] = _stat(rng, flow / 3600) | {"Cou": flow / 60}
    turbine = outlet.driver == "gt_2015"
    temp = (85 + 12 * load) if turbine else (48 + 8 * load)
    temp = np.where(stop, 25.0, temp) + rng.normal(0, 0.3, n)
    out["a01012"] = _stat(rng, temp)
    press = np.where(stop, 0.01, 0.12 + 0.30 * load) + rng.normal(0, 0.01, n)
    out["a01013"] = _stat(rng, press)
    hum = np.where(stop, 2.0, (5 + 2 * load) if turbine else (6 + 5 * load)) + rng.normal(0, 0.1, n)
    out["a01014"] = _stat(rng, np.maximum(hum, 0.0))
    out["_load"] = {"Avg": load}
    return out


def _water(
    scenario: Scenario,
    *,
    outlet: Outlet,
    rng: np.random.Generator,
    hod: np.ndarray,
    masks: dict[str, np.ndarray],
    per_event: list[tuple[Event, np.ndarray]],
) -> Table:
    hours = scenario.hours
    n = hours * 60
    shift = np.where((hod >= 8) & (hod < 20), 1.0, 0.4)
    level_h = np.clip(0.55 + 0.35 * shift + _ar1(rng, hours, 0.7, 0.04), 0.2, 1.0)
    stop = np.repeat(masks["stop"], 60)
    level = np.where(stop, 0.0, _minutes(level_h) * (1 + rng.normal(0, 0.02, n)))
    flow = outlet.flow_full * level  # [L/s]
    volume = flow * 60 / 1000  # [m³ per minute]
    out: Table = {}
    for code in WATER_POLLUTANTS:
        limit = outlet.limits[code]
        hourly = outlet.base[code] * np.exp(_ar1(rng, hours, 0.8, 0.15))
        hourly = np.minimum(hourly, 0.8 * limit)
        for e, mask in per_event:
            if code not in e.codes(outlet):
                continue
            kind = e.kind
            if kind == "exceedance":
                hourly = np.where(mask, e.factor * limit, hourly)
            elif kind == "calibration":  # standard solution at twice the limit
                hourly = np.where(mask, 2 * limit, hourly)
            elif kind == "fault":
                hourly = np.where(mask, 0.0, hourly)
            elif kind == "manual":
                hourly = np.where(mask, outlet.base[code], hourly)
        c = np.repeat(hourly, 60)  # one analysis per hour, held for its minutes
        out[code] = {"Min": c, "Avg": c, "Max": c, "Cou": c * volume * 1e-3}
    minutes = np.arange(n) / 60
    ph = 7.3 + 0.2 * np.sin(2 * np.pi * (minutes + hod[0]) / 24) + rng.normal(0, 0.03, n)
    out["w01001"] = _stat(rng, ph)
    out["w00000"] = _stat(rng, flow) | {"Cou": volume}
    out["_load"] = {"Avg": level}
    return out


def _hourly(minute: Table, outlet: Outlet) -> Table:
    """Hour aggregates of minute values (see the module docstring), rounded."""
    out: Table = {}
    for code, stats in minute.items():
        agg: dict[str, np.ndarray] = {}
        for stat, values in stats.items():
            grid = values.reshape(-1, 60)
            if stat in ("Avg", "ZsAvg"):
                agg[stat] = grid.mean(axis=1)
            elif stat in ("Min", "ZsMin"):
                agg[stat] = grid.min(axis=1)
            elif stat in ("Max", "ZsMax"):
                agg[stat] = grid.max(axis=1)
            else:
                agg[stat] = grid.sum(axis=1)
        out[code] = agg
    return _round(out, outlet)


def _round(table: Table, outlet: Outlet) -> Table:
    """Values as sent: :data:`DIGITS` decimals (Cou: :data:`COU_DIGITS` or 4 for kg)."""
    out: Table = {}
    for code, stats in table.items():
        out[code] = {
            stat: np.round(
                values,
                (COU_DIGITS.get(code, KG_DIGITS) if stat == "Cou" else DIGITS[code]),
            )
            for stat, values in stats.items()
        }
    return out


def hourly_frame_table(series: Series, scenario: Scenario) -> pd.DataFrame:
    """The hourly values as a long table (site, time, code, statistic, value, flag) of the
    hours the device sends (outage hours left out) — what the platform should store."""
    hours = scenario.hours
    times = pd.date_range(scenario.start, periods=hours, freq="h")
    keep = ~series.silent
    parts = []
    for code, stats in series.hour.items():
        for stat, values in stats.items():
            ok = keep & ~np.isnan(values)
            parts.append(
                pd.DataFrame(
                    {
                        "site": series.outlet.site,
                        "time": times[ok],
                        "code": code,
                        "statistic": stat.lower(),
                        "value": values[ok],
                        "flag": series.hour_flag[code][ok],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)
