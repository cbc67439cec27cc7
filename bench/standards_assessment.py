"""Benchmark: a full annual assessment of a synthetic national station-year.

2,000 stations × 8,760 hours × 6 pollutants (SO2, NO2, CO, PM10, PM2.5, O3) in the canonical
long table, assessed by :func:`shanshui.standards.assessment.assess_network` (GB 3095-2012
Table 4 validity, HJ 663-2013 statistics and percentiles, city values from assessment
stations, composite index, good and heavily polluted days from the HJ 633 daily AQI), and
by a straightforward pandas implementation of the same rules (groupby / pivot / rolling /
quantile). Both results are asserted equal; the script prints the times, their ratio (goal:
≥ 10×) and the peak memory (resident set growth during each phase, sampled every 5 ms).

Run alone: ``python bench/standards_assessment.py [n_stations]``.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

TZ = "Asia/Shanghai"
YEAR = 2023
POLLUTANTS = ("SO2", "NO2", "CO", "PM10", "PM2.5", "O3")
DAILY = ("SO2", "NO2", "CO", "PM10", "PM2.5", "O3_1h", "O3_8h")
SERIES_OF = {"SO2": "SO2", "NO2": "NO2", "PM10": "PM10", "PM2.5": "PM2.5", "CO": "CO"}
SERIES_OF["O3"] = "O3_8h"
PERCENTILE = {"SO2": 98, "NO2": 98, "PM10": 95, "PM2.5": 95, "CO": 95, "O3": 90}
LIMIT = {"SO2": 60.0, "NO2": 40.0, "PM10": 70.0, "PM2.5": 35.0, "CO": 4.0, "O3": 160.0}
LEVEL = {"SO2": 10.0, "NO2": 35.0, "CO": 0.9, "PM10": 80.0, "PM2.5": 45.0, "O3": 70.0}


# --- memory -------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _trim() -> None:
    """Give freed heap memory back to the OS (glibc), so RSS growth measures the phase."""
    # not glibc: RSS growth is then a lower bound
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakRSS:
    """Peak resident set size during a ``with`` block (sampled), minus the size at entry."""

    def __enter__(self) -> PeakRSS:
        _trim()
        self.start = _rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth_gib(self) -> float:
        return (self.peak - self.start) / 2**30


# --- synthetic data -----------------------------------------------------------------------


def synthetic(n_stations: int, seed: int = 2023) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A station-year in the canonical long table, and its station list.

    Log-normal concentrations with a diurnal O3 cycle; 3 % of hours missing at random, a
    6-day outage at 10 % of the stations (some months then fail GB 3095's 27-day minimum),
    0.5 % of the values flagged ``D`` (instrument fault); 5 % of stations are reference
    sites; 370 cities.
    """
    rng = np.random.default_rng(seed)
    n_hours = 8760
    start = pd.Timestamp(f"{YEAR}-01-01").tz_localize(TZ)
    hours = np.arange(n_hours)
    outage = np.zeros((n_stations, n_hours), dtype=bool)
    hit = rng.random(n_stations) < 0.10
    first = rng.integers(0, n_hours - 6 * 24, n_stations)
    for s in np.nonzero(hit)[0]:
        outage[s, first[s] : first[s] + 6 * 24] = True
    sites, times, params, values, flags = [], [], [], [], []
    t_ns = start.value + hours.astype(np.int64) * 3_600_000_000_000
    for k, p in enumerate(POLLUTANTS):
        v = LEVEL[p] * rng.lognormal(0.0, 0.6, (n_stations, n_hours))
        if p == "O3":
            v *= 1.0 + 0.8 * np.sin((hours % 24 - 9) / 24 * 2 * np.pi)
        present = (rng.random((n_stations, n_hours)) > 0.03) & ~outage
        s_idx, h_idx = np.nonzero(present)
        sites.append(s_idx.astype(np.int16))
        times.append(t_ns[h_idx])
        params.append(np.full(s_idx.size, k, dtype=np.int8))
        values.append(np.round(v[present], 3 if p == "CO" else 1))
        flags.append((rng.random(s_idx.size) < 0.005).astype(np.int8))
        del v, present, s_idx, h_idx
    codes = [f"{9000 + i:04d}X" for i in range(n_stations)]
    frame = pd.DataFrame(
        {
            "site": pd.Categorical.from_codes(np.concatenate(sites), categories=codes),
            "time": pd.DatetimeIndex(np.concatenate(times), tz="UTC").tz_convert(TZ),
            "parameter": pd.Categorical.from_codes(np.concatenate(params), POLLUTANTS),
            "value": np.concatenate(values),
            "flag": pd.Categorical.from_codes(np.concatenate(flags), categories=["N", "D"]),
        }
    )
    stations = pd.DataFrame(
        {
            "code": codes,
            "city": [f"city{i % 370:03d}" for i in range(n_stations)],
            "reference": rng.random(n_stations) < 0.05,
        }
    )
    return frame, stations


# --- the straightforward pandas implementation of the same rules ------------------------


def pandas_assessment(frame: pd.DataFrame, stations: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """GB 3095 / HJ 663 annual assessment written plainly with pandas (the baseline)."""
    from shanshui.standards.aqi import daily_aqi

    t0 = pd.Timestamp(f"{YEAR}-01-01").tz_localize(TZ)
    t1 = pd.Timestamp(f"{YEAR + 1}-01-01").tz_localize(TZ)
    f = frame[(frame["flag"] == "N") & (frame["time"] >= t0) & (frame["time"] < t1)]
    f = f.assign(day=f["time"].dt.floor("D"))
    all_days = pd.date_range(t0, t1, freq="D", inclusive="left")
    grid = pd.MultiIndex.from_product([stations["code"], all_days], names=["site", "day"])
    daily = pd.DataFrame(index=grid)
    for p in ("SO2", "NO2", "CO", "PM10", "PM2.5"):
        g = f[f["parameter"] == p].groupby(["site", "day"], observed=True)["value"]
        stats = g.agg(["mean", "count"])
        daily[p] = stats["mean"].where(stats["count"] >= 20).reindex(grid)
    o3 = f[f["parameter"] == "O3"].pivot(index="time", columns="site", values="value")
    o3 = o3.reindex(index=pd.date_range(t0, t1, freq="h", inclusive="left"))
    o3 = o3.reindex(columns=stations["code"])
    day_of = o3.index.floor("D")
    max1 = o3.groupby(day_of).max().where(o3.groupby(day_of).count() >= 20)
    roll = o3.rolling(8, min_periods=6).mean()
    roll = roll[roll.index.hour >= 7]  # windows ending 08:00 .. 24:00
    rday = roll.index.floor("D")
    max8 = roll.groupby(rday).max().where(roll.groupby(rday).count() >= 14)
    daily["O3_1h"] = max1.T.stack(future_stack=True).reindex(grid)
    daily["O3_8h"] = max8.T.stack(future_stack=True).reindex(grid)

    members = stations[~stations["reference"]].set_index("code")["city"]
    cd = daily.reset_index()
    cd = cd[cd["site"].isin(members.index)]
    cd["city"] = cd["site"].map(members)
    city = cd.groupby(["city", "day"])[list(DAILY)].mean()
    every_city = sorted(stations["city"].unique())
    city = city.reindex(pd.MultiIndex.from_product([every_city, all_days]))

    out = {}
    for name, d in (("stations", daily), ("cities", city)):
        entity = d.index.get_level_values(0)
        month = d.index.get_level_values(1).month
        rows = []
        for p in POLLUTANTS:
            s = d[SERIES_OF[p]]
            per_month = s.notna().groupby([entity, month]).sum().unstack()
            need = np.where(per_month.columns == 2, 25, 27)
            valid = (per_month >= need).all(axis=1) & (per_month.sum(axis=1) >= 324)
            g = s.groupby(entity)
            mean = g.mean().where(valid)
            pct = g.quantile(PERCENTILE[p] / 100).where(valid)
            p98 = g.quantile(0.98).where(valid)
            rows.append(
                pd.DataFrame(
                    {
                        "pollutant": p,
                        "mean": mean,
                        "percentile": pct,
                        "p98": p98,
                        "valid_days": g.count(),
                        "valid": valid,
                        "assessed": mean if p in ("SO2", "NO2", "PM10", "PM2.5") else pct,
                    }
                )
            )
        table = pd.concat(rows).rename_axis("entity").set_index("pollutant", append=True)
        table = table.sort_index()
        assessed = table["assessed"].unstack("pollutant")
        composite = sum(assessed[p] / LIMIT[p] for p in POLLUTANTS)
        complete = d.dropna()
        aqi = daily_aqi(complete[list(DAILY)])["AQI"]
        who = complete.index.get_level_values(0)
        days = pd.DataFrame(
            {
                "aqi_days": aqi.groupby(who).size(),
                "good_days": (aqi <= 100).groupby(who).sum(),
                "heavy_days": (aqi > 200).groupby(who).sum(),
            }
        ).reindex(assessed.index, fill_value=0)
        out[name] = table
        out[name + "_summary"] = days.assign(composite_index=composite)
    return out


# --- comparison and report ----------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Result, wall-clock seconds, CPU seconds of this process, peak RSS growth [GiB]."""
    gc.collect()
    with PeakRSS() as mem:
        t = time.perf_counter()
        c = time.process_time()
        result = fn()
        cpu = time.process_time() - c
        elapsed = time.perf_counter() - t
    return result, elapsed, cpu, mem.growth_gib


def _same(ours: pd.DataFrame, theirs: pd.DataFrame, columns: list[str], what: str) -> None:
    a = ours[columns].sort_index()
    b = theirs[columns].reindex(a.index)
    for c in columns:
        x = a[c].to_numpy(dtype=float)
        y = b[c].to_numpy(dtype=float)
        np.testing.assert_allclose(
            x, y, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{what} {c}"
        )


def run(n_stations: int = 2000) -> None:
    """Print the benchmark (times, ratio, peak memory) and assert equal results."""
    from shanshui.standards.assessment import assess_network

    print(f"synthetic station-year: {n_stations} stations × 8760 h × 6 pollutants")
    (frame, stations), t_gen, _, m_gen = _timed(lambda: synthetic(n_stations))
    print(f"  generated {len(frame):,} rows in {t_gen:.1f} s (+{m_gen:.2f} GiB)")
    start, end = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
    ours, t_ours, c_ours, m_ours = _timed(lambda: assess_network(frame, stations, start, end))
    print(
        f"  shanshui assess_network: {t_ours:8.2f} s wall, {c_ours:8.2f} s CPU, "
        f"peak +{m_ours:.2f} GiB"
    )
    theirs, t_pd, c_pd, m_pd = _timed(lambda: pandas_assessment(frame, stations))
    print(f"  straightforward pandas:  {t_pd:8.2f} s wall, {c_pd:8.2f} s CPU, peak +{m_pd:.2f} GiB")
    print(
        f"  speed-up: {t_pd / t_ours:.1f}× wall, {c_pd / c_ours:.1f}× CPU (goal ≥ 10×; "
        f"CPU time is the fairer figure on a shared machine, wall time on an idle one)"
    )

    cols = ["mean", "percentile", "p98", "valid_days", "valid"]
    _same(ours.stations, theirs["stations"], cols, "stations")
    _same(ours.cities, theirs["cities"], cols, "cities")
    for which, mine in (("stations", ours.station_summary), ("cities", ours.city_summary)):
        _same(
            mine,
            theirs[which + "_summary"],
            ["composite_index", "aqi_days", "good_days", "heavy_days"],
            which,
        )
    n_invalid = int((~ours.stations["valid"]).sum())
    print(
        f"  results equal: {len(ours.stations):,} station-pollutant and "
        f"{len(ours.cities):,} city-pollutant statistics "
        f"({n_invalid} station-pollutants invalid by GB 3095 Table 4), composite indices "
        f"and good/heavy day counts"
    )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
