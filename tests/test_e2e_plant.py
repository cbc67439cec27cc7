"""End to end: a SYNTHETIC plant runs for a month through ``shanshui serve`` and the rules
engine finds exactly the alarms its scenario implies, and the emission totals it implies.

``shanshui simulate-cems`` registers plant 8 (two coal-fired stacks, a gas-turbine stack
driven by the real UCI 551 series, a waste-water outlet; its permit), then sends January 2026
— minute frames (CN 2051) on the first day, hourly frames (CN 2061) all month — to a running
``shanshui serve`` (subprocesses, DuckDB) with the scenario's injected exceedances, stops,
calibrations, maintenance, faults and outages. Then ``RulesJob.run_once(now=1 Feb 00:10)``
(the last hour judged).

The expectation is stated twice, without the code under test (``shanshui.rules``,
``shanshui.standards.emissions``):

1. from the scenario's events, by the alarm model of ``shanshui.rules`` (its docstring):
   an exceedance event of h hours from S → one ``exceedance`` alarm of its pollutant opened
   at S, closed at S + h, h hours (the hour after an event is a normal, judged hour); a stop /
   calibration / maintenance / fault → one ``flag`` alarm F / C / M / D, same hours; an outage
   → one ``offline`` alarm opened at S (last data time S − 1 h + the 3600 s interval) and
   closed at S + h (the next data time); nothing else;
2. from the bytes the devices send (decoded here), by applying the documented rules
   literally — hourly means of ≥ 45 valid minutes or the device's hourly record, converted
   with the hour's O2, compared with the permit's limit; flags per hour; gaps between data
   times — which must give the same list, so the data really carry what the scenario says.

Totals: per flue-gas stack and pollutant, January's mass (HJ 75-2017 §12: valid hour
C × Q × 10⁻⁶, stopped hour 0, invalid or missing hours the maximum of the previous 180 valid
hours) computed here by an explicit loop, against ``standards.emissions`` fed from the
store; and the plant's emitted tonnes (Σ hourly Cou) against ``rules.regional``'s totals,
with the SO2 total of the permit set below its projection so that exactly that
``annual_total`` alarm opens.
"""

from __future__ import annotations

import itertools
import json
import math
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from shanshui.hj212 import CST, Decoder, Frame
from shanshui.ingest.cems_plant import Scenario, plant, scenario_dict
from shanshui.ingest.simulate_cems import cems_devices
from shanshui.permits import permit_from_dict
from shanshui.rules import RulesJob
from shanshui.rules.binding import DELIVERY
from shanshui.rules.regional import enterprise_totals
from shanshui.standards.emissions_periods import emission_totals, hourly_mass
from shanshui.store import open_store

PY = sys.executable
PLANT, DAYS = 8, 31
START = datetime(2026, 1, 1, tzinfo=CST)
NOW = START + timedelta(days=DAYS)  # 2026-02-01 00:00 Beijing time, the month's end
#: the rules run once the month's last hour is judged (its records due: shanshui.rules'
#: "Time labels"), 10 minutes after NOW
RUN = NOW + DELIVERY
HOUR = timedelta(hours=1)
ARGS = ["--plant", str(PLANT), "--from", "2026-01-01", "--days", str(DAYS), "--minute-days", "1"]
#: ``shanshui serve`` (its :func:`~shanshui.ingest.serve.run`, in a subprocess) without its
#: periodic rules evaluation: that runs on the wall clock, months after the simulated January,
#: and would judge the month half-delivered; the test evaluates at the simulated 1 February.
#: Device rate limits lifted: the replay sends as fast as acknowledgements come.
SERVE = """
import sys
from pathlib import Path
from shanshui.ingest.serve import ServeConfig, run
from shanshui.ingest.session import Limits
db, journal, port, http_port = sys.argv[1:]
run(ServeConfig(db, Path(journal), host="127.0.0.1", port=int(port), http_port=int(http_port),
                limits=Limits(frames_per_second=1e6, burst=1e6), rules_every=0))
"""
#: The SO2 total of the permit is set to this share of the month's projection: it must alarm.
SO2_SHARE = 0.8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, timeout: float = 300) -> list[dict]:
    done = subprocess.run(
        [PY, "-m", "shanshui.cli", *args], capture_output=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]


# ------------------------------------------------------------------ what the devices send
def decode_all(devices: list) -> pd.DataFrame:
    """Every value of every frame: site, cn, time (label, aware), code, stats, flag."""
    rows = []
    for d in devices:
        for f in d.frames:
            (event,) = Decoder().feed(f.data)
            assert isinstance(event, Frame)
            msg = event.message
            when = msg.data_time.replace(tzinfo=CST)
            for code, entries in msg.items.items():
                stats = {k: float(v) for k, v in entries.items() if k != "Flag"}
                rows.append((d.site, msg.cn, when, code, stats, entries.get("Flag", "N")))
    return pd.DataFrame(rows, columns=["site", "cn", "time", "code", "stats", "flag"])


def hourly_value(sent: pd.DataFrame, site: str, code: str) -> dict[datetime, float]:
    """Rule (a)'s hourly value of ``code``: the mean of the hour's valid (flag N) minute
    averages when there are ≥ 45 (HJ 76-2017 Annex B); an hour without minute records: its
    hourly record's average if flagged N. Hours not judged are absent."""
    rows = sent[(sent["site"] == site) & (sent["code"] == code)]
    out: dict[datetime, float] = {}
    minutes: dict[datetime, list[float]] = defaultdict(list)
    had_minutes: set[datetime] = set()
    for cn, t, stats, flag in zip(
        rows["cn"], rows["time"], rows["stats"], rows["flag"], strict=True
    ):
        if cn == "2051":
            hour = t.replace(minute=0)
            had_minutes.add(hour)
            if flag == "N":
                minutes[hour].append(stats["Avg"])
    for hour, values in minutes.items():
        if len(values) >= 45:
            out[hour] = sum(values) / len(values)
    for cn, t, stats, flag in zip(
        rows["cn"], rows["time"], rows["stats"], rows["flag"], strict=True
    ):
        if cn == "2061" and t not in had_minutes and flag == "N":
            out[t] = stats["Avg"]
    return out


def runs(
    hours: list[datetime], on: dict[datetime, bool]
) -> list[tuple[datetime, datetime | None, int]]:
    """Alarm episodes over the judged ``hours`` (in order): open at the first hour where
    ``on``, close at the first later judged hour where not; (opened, closed, hours on)."""
    out = []
    opened, count = None, 0
    for h in hours:
        if on[h]:
            if opened is None:
                opened, count = h, 0
            count += 1
        elif opened is not None:
            out.append((opened, h, count))
            opened = None
    if opened is not None:
        out.append((opened, None, count))
    return out


Alarm = tuple[str, str, str, datetime, datetime | None, int]


def alarms_from_frames(scenario: Scenario, sent: pd.DataFrame, interval: int) -> set[Alarm]:
    """The alarm model of ``shanshui.rules`` applied literally to the decoded frames."""
    out: set[Alarm] = set()
    for o in scenario.outlets:
        site = o.site
        o2 = hourly_value(sent, site, "a19001") if o.kind == "flue" else {}
        for code, limit in o.limits.items():
            values = hourly_value(sent, site, code)
            if o.kind == "flue":  # C × (21 − O2ref)/(21 − O2), GB 13223-2011 §5.2
                values = {
                    h: c * (21 - o.o2_ref) / (21 - o2[h]) for h, c in values.items() if h in o2
                }
            judged = sorted(values)
            for a, b, n in runs(judged, {h: values[h] > limit for h in judged}):
                out.add((site, "exceedance", code, a, b, n))
        mine = sent[sent["site"] == site]
        flags: dict[datetime, set[str]] = defaultdict(set)
        for t, flag in zip(mine["time"], mine["flag"], strict=True):
            flags[t.replace(minute=0)].add(flag)
        order = sorted(flags)
        for letter in sorted(set().union(*flags.values()) - {"N"}):
            for a, b, n in runs(order, {h: letter in flags[h] for h in order}):
                out.add((site, "flag", letter, a, b, n))
        times = sorted(set(mine["time"]))
        step = timedelta(seconds=interval)
        for prev, nxt in itertools.pairwise(times):
            if nxt - prev > step:
                opened = prev + step
                out.add((site, "offline", "", opened, nxt, (nxt - opened) // HOUR))
        assert NOW - times[-1] <= step  # still reporting at the end
    return out


def alarms_from_events(scenario: Scenario) -> set[Alarm]:
    """The alarms the scenario's events imply (module docstring, point 1)."""
    out: set[Alarm] = set()
    for e in scenario.events:
        if e.kind == "exceedance":
            out.add((e.site, "exceedance", str(e.parameter), e.start, e.end, e.hours))
        elif e.kind == "outage":
            out.add((e.site, "offline", "", e.start, e.end, e.hours))
        else:
            out.add((e.site, "flag", str(e.flag), e.start, e.end, e.hours))
    return out


def substituted_total(mass: list[float | None], status: list[str]) -> tuple[float, int]:
    """HJ 75-2017 §12 (as summarised in shared/reference/sources/README.md): valid hours
    count their mass, stopped hours 0, each run of invalid/missing hours the maximum hourly
    mass of the 180 valid hours before it (capture ≥ 90 %, runs ≤ 24 h). Returns the total
    [kg] and the number of substituted hours."""
    valid_hours = [i for i, s in enumerate(status) if s == "valid"]
    running = sum(1 for s in status if s != "stopped")
    assert len(valid_hours) / running >= 0.9  # so the 180-hour window applies
    total, substituted, i = 0.0, 0, 0
    while i < len(status):
        if status[i] == "valid":
            total += mass[i]  # type: ignore[operator]
            i += 1
        elif status[i] == "stopped":
            i += 1
        else:
            j = i
            while j < len(status) and status[j] == "invalid":
                j += 1
            assert j - i <= 24
            before = [mass[k] for k in valid_hours if k < i][-180:]
            total += (j - i) * max(before)  # type: ignore[type-var,operator]
            substituted += j - i
            i = j
    return total, substituted


# --------------------------------------------------------------------------- the run
@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("plant")
    db = tmp / "plant.duckdb"
    scenario = plant(PLANT, start=START, days=DAYS, minute_days=1)
    devices = cems_devices(scenario)
    sent = decode_all(devices)

    # register outlets, devices and the permit through the CLI; its scenario is ours
    files = ["--scenario", str(tmp / "scenario.json"), "--permit", str(tmp / "permit.json")]
    out = cli("simulate-cems", *ARGS, "--register", "--db", str(db), "--hash-cost", "4", *files)
    assert out[-1]["event"] == "registered" and out[-1]["devices"] == 4
    assert json.loads((tmp / "scenario.json").read_text()) == json.loads(
        json.dumps(scenario_dict(scenario))
    )
    # the SO2 total (t/a) below the month's projection: emitted so far / (31/365)
    hourly = sent[sent["cn"] == "2061"]
    kg = defaultdict(float)
    for code, stats in zip(hourly["code"], hourly["stats"], strict=True):
        kg[code] += stats.get("Cou", 0.0) if code in scenario.annual_permitted else 0.0
    fraction = DAYS / 365
    projection = {code: kg[code] / 1000 / fraction for code in scenario.annual_permitted}
    doc = json.loads((tmp / "permit.json").read_text())
    so2 = math.floor(SO2_SHARE * projection["a21026"])
    for t in doc["totals"]:
        if t["parameter"] == "a21026" and t["year"] == 2026:
            t["tonnes"] = so2
    (tmp / "permit-lowered.json").write_text(json.dumps(doc, ensure_ascii=False))
    done = subprocess.run(
        [PY, "-m", "shanshui.cli", "permits", "import", str(tmp / "permit-lowered.json"),
         "--db", str(db), "--actor", "test", "--reason", "SO2 total lowered"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    with open_store(str(db)) as store:
        permit = store.permit(doc["id"])
        assert permit is not None and permit == permit_from_dict(doc)
        assert permit.total("a21026", 2026).tonnes == so2

    port, http_port = free_port(), free_port()
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [PY, "-c", SERVE, str(db), str(tmp / "journal"), str(port), str(http_port)],
        stdout=subprocess.PIPE, stderr=log, cwd=tmp,
    )  # fmt: skip
    log.close()
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line, (tmp / "serve.log").read_text()[-3000:]
            if json.loads(line).get("event") == "ready":
                break
        t0 = time.monotonic()
        target = ["--host", "127.0.0.1", "--port", str(port)]
        pace = ["--speed", "0", "--ack-timeout", "5", "--max-seconds", "300"]
        out = cli("simulate-cems", *ARGS, *target, *pace, timeout=400)
        stats = out[-1]
        assert out[0]["synthetic"] is True and out[0]["events"] == len(scenario.events)
        assert stats["event"] == "done" and stats["acked"] == stats["frames"]
        assert stats["frames"] == sum(len(d.frames) for d in devices)
        replay_s = time.monotonic() - t0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(120)
        if server.stdout is not None:
            server.stdout.close()

    with open_store(str(db), migrate=False) as store:
        # the month ran through the gateway before any evaluation: no alarm yet
        assert store.alarms() == [], "serve evaluated rules on its own clock during the replay"
        job = RulesJob(store, lookback=timedelta(days=DAYS + 2))
        first = job.run_once(RUN)
        alarms = store.alarms()
        job.run_once(RUN)
        again = store.alarms()
        observations = store.observations([o.site for o in scenario.outlets], period="hour")
        totals = enterprise_totals(store, scenario.enterprise, 2026, NOW)
    print(
        f"\nplant {PLANT}: {stats['frames']} frames in {replay_s:.1f} s, "
        f"{len(alarms)} alarms ({first}); SO2 projection {projection['a21026']:.1f} t/a "
        f"vs permitted {so2}"
    )
    return {
        "scenario": scenario, "sent": sent, "alarms": alarms, "again": again,
        "observations": observations, "totals": totals, "projection": projection,
        "so2": so2, "permit": doc,
    }  # fmt: skip


# ------------------------------------------------------------------------------ tests
@pytest.mark.slow
def test_the_scenario_and_the_frames_agree(month: dict) -> None:
    scenario = month["scenario"]
    intervals = {o["reporting_interval_s"] for o in month["permit"]["outlets"]}
    assert intervals == {3600}  # hourly data all month (minutes on day 1 only)
    from_events = alarms_from_events(scenario)
    assert alarms_from_frames(scenario, month["sent"], 3600) == from_events
    kinds = {e.kind for e in scenario.events}
    assert kinds == {"exceedance", "stop", "calibration", "maintenance", "fault", "outage"}
    # exceedances on the minute-data day (judged on minute means), one at the gas turbine
    day1 = [e for e in scenario.events if e.kind == "exceedance" and e.start < START + HOUR * 24]
    assert len(day1) >= 2 and any(e.site.endswith("DA003") for e in day1)


@pytest.mark.slow
def test_exactly_the_expected_alarms(month: dict) -> None:
    scenario = month["scenario"]
    expected = alarms_from_events(scenario)
    got = {
        (a.site, a.rule, a.parameter, a.opened_at.astimezone(CST),
         None if a.closed_at is None else a.closed_at.astimezone(CST), a.hours)
        for a in month["alarms"] if a.rule != "annual_total"
    }  # fmt: skip
    missing, extra = expected - got, got - expected
    assert not missing and not extra, f"missing {sorted(missing)}\nextra {sorted(extra)}"
    assert len(month["alarms"]) == len(expected) + 1
    for a in month["alarms"]:
        if a.rule == "annual_total":
            continue
        assert a.state == "closed" and a.closed_by == "rules"
        if a.rule == "exceedance":
            limit = scenario.outlet(a.site).limits[a.parameter]
            assert a.threshold == limit and a.value is not None and a.value > limit
    # a second run at the same instant changes no alarm (the annual projection's value only
    # in its last bits: the store's sum of Cou is not summed in a fixed order)
    key = [(a.id, a.site, a.rule, a.parameter, a.state, a.opened_at, a.closed_at, a.hours)
           for a in month["alarms"]]  # fmt: skip
    assert [(a.id, a.site, a.rule, a.parameter, a.state, a.opened_at, a.closed_at, a.hours)
            for a in month["again"]] == key  # fmt: skip
    for a, b in zip(month["alarms"], month["again"], strict=True):
        assert b.value == (None if a.value is None else pytest.approx(a.value, rel=1e-12))


@pytest.mark.slow
def test_annual_total_alarm_and_totals(month: dict) -> None:
    scenario, projection = month["scenario"], month["projection"]
    (annual,) = [a for a in month["alarms"] if a.rule == "annual_total"]
    assert (annual.site, annual.parameter, annual.state) == (scenario.enterprise, "a21026", "open")
    assert annual.opened_at == NOW and annual.closed_at is None
    assert annual.value == pytest.approx(projection["a21026"], rel=1e-9)
    assert annual.threshold == month["so2"]
    # the other pollutants project within their permitted totals
    for code, tonnes in scenario.annual_permitted.items():
        if code != "a21026":
            assert projection[code] < tonnes
    rows = {r["parameter"]: r for r in month["totals"]["totals"]}
    for code in scenario.annual_permitted:
        assert rows[code]["emitted_t"] == pytest.approx(projection[code] * DAYS / 365, rel=1e-9)
        assert rows[code]["on_course_to_exceed"] == (code == "a21026")


@pytest.mark.slow
def test_monthly_mass_of_each_stack(month: dict) -> None:
    """January's mass per stack and pollutant: HJ 75-2017 §12 by hand vs standards.emissions
    on the stored hourly data."""
    scenario, sent, stored = month["scenario"], month["sent"], month["observations"]
    hours = [START + k * HOUR for k in range(scenario.hours)]
    hourly = sent[sent["cn"] == "2061"]
    stored = stored.assign(time=pd.to_datetime(stored["time"], utc=True))
    checked = 0
    for o in scenario.outlets:
        if o.kind != "flue":
            continue
        mine = hourly[hourly["site"] == o.site]
        records = list(zip(mine["time"], mine["code"], mine["stats"], mine["flag"], strict=True))
        flow = {t: s["Avg"] * 3600 for t, c, s, _f in records if c == "a00000"}  # [m³/h]
        for code in o.limits:
            rec = {t: (s, f) for t, c, s, f in records if c == code}
            status, mass = [], []
            for h in hours:
                if h not in rec:
                    status.append("invalid")  # outage: a running hour without data
                    mass.append(None)
                    continue
                stats, flag = rec[h]
                if flag == "F":
                    status.append("stopped")
                    mass.append(0.0)
                elif flag == "N":
                    status.append("valid")
                    mass.append(stats["Avg"] * flow[h] * 1e-6)  # mg/m³ × m³/h × 10⁻⁶ = kg
                else:
                    status.append("invalid")
                    mass.append(None)
            expected, n_sub = substituted_total(mass, status)

            # the same from the store through shanshui.standards.emissions
            mine_db = stored[stored["site"] == o.site]
            grid = pd.DatetimeIndex([h.astimezone(UTC) for h in hours])
            conc = mine_db[(mine_db["parameter"] == code) & (mine_db["statistic"] == "avg")]
            conc = conc.set_index("time").reindex(grid)
            q = mine_db[(mine_db["parameter"] == "a00000") & (mine_db["statistic"] == "avg")]
            q = q.set_index("time")["value"].reindex(grid) * 3600
            flags = conc["flag"].where(conc["flag"].notna(), None).to_numpy(dtype=object)
            result = hourly_mass(conc["value"].to_numpy(float), q.to_numpy(float), flags)
            frame = pd.DataFrame({"mass": result.mass, "status": result.status}, index=grid)
            jan = emission_totals(frame, "month").set_index("period").loc["2026-01"]
            assert jan["mass"] == pytest.approx(expected, rel=1e-9), (o.site, code)
            assert jan["substituted_hours"] == n_sub
            assert jan["stopped_hours"] == sum(1 for s in status if s == "stopped")
            checked += 1
    assert checked == 9


@pytest.mark.slow
def test_store_holds_what_was_sent(month: dict) -> None:
    """Every hourly value the devices sent is stored once, with its flag; nothing else."""
    sent = month["sent"]
    rows = []
    for site, cn, t, code, stats, flag in sent.itertuples(index=False):
        if cn == "2061":
            for stat, value in stats.items():
                rows.append((site, code, stat.lower(), t.astimezone(UTC), value, flag))
    src = pd.DataFrame(rows, columns=["site", "parameter", "statistic", "time", "value", "flag"])
    got = month["observations"]
    dst = pd.DataFrame(
        {
            "site": got["site"].astype(str).to_numpy(),
            "parameter": got["parameter"].astype(str).to_numpy(),
            "statistic": got["statistic"].astype(str).to_numpy(),
            "time": pd.to_datetime(got["time"], utc=True).to_numpy(),
            "value": got["value"].to_numpy(),
            "flag": got["flag"].astype(str).to_numpy(),
        }
    )
    src["time"] = pd.to_datetime(src["time"], utc=True).to_numpy()
    key = ["site", "parameter", "statistic", "time"]
    merged = src.merge(dst, on=key, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["value_x"] == merged["value_y"]).all()
    assert (merged["flag_x"] == merged["flag_y"]).all()
    assert len(dst) == len(src) > 90_000
