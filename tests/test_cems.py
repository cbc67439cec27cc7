"""The SYNTHETIC CEMS simulator (``shanshui.ingest.simulate_cems``): its frames decode and
carry valid CRCs, its values follow the scenario's injected events, it is deterministic from
its seed, labelled synthetic, and its gas-turbine stack carries the real UCI 551 series.

Sources: HJ 212-2017 frame and CRC rules as summarised in ``shared/reference/hj212/README.md``
(the CRC below is written from that description, not taken from ``shanshui.hj212``); flag
meanings HJ 212-2017 §6.6; the real series ``shared/data/sources/gt_2015.csv``; converted
concentration C_ref = C × (21 − O2_ref)/(21 − O2) from ``shared/reference/sources/README.md``.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shanshui.hj212 import CST, Decoder, Frame, Message, encode
from shanshui.ingest.cems_plant import (
    Event,
    ScenarioError,
    permit_document,
    plant,
    scenario_dict,
)
from shanshui.ingest.simulate_cems import cems_devices
from shanshui.permits import permit_from_dict

START = datetime(2026, 1, 1, tzinfo=CST)
GT_SHA256 = "1563b5829506fb157f18e86cf5c30f23366e58dd4d843870da85cfe07be0c642"


def reference_crc(segment: bytes) -> str:
    """HJ 212 CRC as the reference notes describe it (not CRC-16/MODBUS)."""
    crc = 0xFFFF
    for byte in segment:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return f"{crc:04X}"


def decoded_hours(devices: list, site: str) -> pd.DataFrame:
    """Every hourly (CN 2061) value one device sends, decoded from its bytes: one row per
    (hour, code) with the statistics as columns and the flag."""
    device = next(d for d in devices if d.site == site)
    rows = []
    for f in device.frames:
        if b";CN=2061;" not in f.data:
            continue
        events = Decoder().feed(f.data)
        assert len(events) == 1 and isinstance(events[0], Frame), f.data[:80]
        msg = events[0].message
        if msg.cn != "2061":
            continue
        when = msg.data_time.replace(tzinfo=CST)
        for code, entries in msg.items.items():
            row = {"time": when, "code": code}
            for suffix, value in entries.items():
                row[suffix] = value if suffix == "Flag" else float(value)
            rows.append(row)
    table = pd.DataFrame(rows)
    # sub-packets repeat DataTime but never a code: one row per (hour, code)
    assert not table.duplicated(["time", "code"]).any()
    return table


@pytest.fixture(scope="module")
def month() -> tuple:
    scenario = plant(1, start=START, days=31, minute_days=1)
    return scenario, cems_devices(scenario)


def test_shipped_series_is_the_real_file(shared: Path) -> None:
    ref = resources.files("shanshui") / "data" / "sources" / "gt_2015.csv.gz"
    with ref.open("rb") as f:
        data = gzip.decompress(f.read())
    assert hashlib.sha256(data).hexdigest() == GT_SHA256
    assert data == (shared / "data" / "sources" / "gt_2015.csv").read_bytes()


def test_frames_decode_with_valid_crc_and_fit_the_standard_length(month: tuple) -> None:
    _, devices = month
    n = subpackets = 0
    for device in devices:
        qns = set()
        for k, f in enumerate(device.frames):
            raw = f.data
            assert raw.startswith(b"##") and raw.endswith(b"\r\n")
            segment = raw[6:-6]
            assert int(raw[2:6]) == len(segment) <= 1024  # HJ 212-2017 §6.3.3
            if k % 7 == 0 or b";CN=2061;" in segment:  # the decoder checks every CRC too
                assert raw[-6:-2].decode() == reference_crc(segment)
            (event,) = Decoder().feed(raw)
            assert isinstance(event, Frame)
            msg = event.message
            assert msg.mn == device.mn and msg.pw == device.password
            assert msg.flag is not None and msg.flag & 1  # answer required (Flag A = 1)
            assert msg.st == ("32" if device.site.endswith("DW001") else "31")
            assert msg.qn not in qns
            qns.add(msg.qn)
            subpackets += bool(msg.pnum)
            if k % 97 == 0 or msg.pnum:  # the canonical layout: Message.build gives the bytes
                again = Message.build(
                    st=msg.st, cn=msg.cn, qn=msg.qn, pw=msg.pw, mn=msg.mn, flag=msg.flag,
                    pnum=msg.pnum, pno=msg.pno, data_time=msg.data_time, items=msg.items,
                )  # fmt: skip
                assert encode(again) == raw
            n += 1
        times = [f.time for f in device.frames]
        assert times == sorted(times)  # sending order
    # 3 flue stacks: 24 h of minute frames (some split in two) + hourly frames, minus outages
    assert n > 3 * (24 * 60 + 744 - 30) + 700
    assert subpackets > 0  # the gas turbine's minute frames pass 1024 bytes: split (§6.3.3)


def test_deterministic_from_seed() -> None:
    a = cems_devices(plant(3, start=START, days=2, seed=7, minute_days=1))
    b = cems_devices(plant(3, start=START, days=2, seed=7, minute_days=1))
    c = cems_devices(plant(3, start=START, days=2, seed=8, minute_days=1))
    assert [f.data for d in a for f in d.frames] == [f.data for d in b for f in d.frames]
    assert [f.data for d in a for f in d.frames] != [f.data for d in c for f in d.frames]


def test_labelled_synthetic(month: tuple) -> None:
    scenario, devices = month
    assert all(d.mn.startswith("SYN") and len(d.mn) == 24 for d in devices)
    assert all("(synthetic)" in o.name or "synthetic" in o.name for o in scenario.outlets)
    assert "(synthetic)" in scenario.name
    doc = permit_document(scenario)
    permit = permit_from_dict(doc)
    assert permit.synthetic
    assert {o.site for o in permit.outlets} == {o.site for o in scenario.outlets}
    assert scenario_dict(scenario)["synthetic"] is True


def _hours(event: Event) -> list[datetime]:
    return [event.start + timedelta(hours=k) for k in range(event.hours)]


def test_values_follow_the_scenario(month: tuple) -> None:
    scenario, devices = month
    kinds = {e.kind for e in scenario.events}
    assert kinds == {"exceedance", "stop", "calibration", "maintenance", "fault", "outage"}
    for outlet in scenario.outlets:
        table = decoded_hours(devices, outlet.site)
        sent = set(table["time"])
        events = scenario.events_at(outlet.site)
        silent = {h for e in events if e.kind == "outage" for h in _hours(e)}
        all_hours = {START + timedelta(hours=k) for k in range(scenario.hours)}
        assert sent == all_hours - silent  # an outage sends nothing, the rest everything
        exceeding: set[tuple[datetime, str]] = set()
        for e in events:
            hours = table[table["time"].isin(_hours(e))]
            if e.kind == "exceedance":
                rows = hours[hours["code"] == e.parameter]
                assert len(rows) == e.hours
                stat = "ZsAvg" if outlet.kind == "flue" else "Avg"
                assert (rows[stat] > outlet.limits[e.parameter]).all()
                assert (rows["Flag"] == "N").all()
                exceeding |= {(t, e.parameter) for t in rows["time"]}
            elif e.kind == "stop":  # HJ 212-2017 §6.6 F; no flow, no converted value
                assert len(hours) and (hours["Flag"] == "F").all()
                assert (hours[hours["code"].isin(["a00000", "w00000"])]["Avg"] == 0).all()
                assert hours.get("ZsAvg", pd.Series(dtype=float)).isna().all()
            elif e.kind == "calibration":  # span gas above the limit, flagged C
                rows = hours[hours["code"].isin(e.codes(outlet))]
                assert len(rows) == e.hours * len(e.codes(outlet))
                assert (rows["Flag"] == "C").all()
                assert (rows["Avg"] > rows["code"].map(outlet.limits)).all()
            elif e.kind == "maintenance":
                rows = hours[hours["code"].isin(["a34013", "a21026", "a21002", "a19001"])]
                assert len(rows) == 4 * e.hours and (rows["Flag"] == "M").all()
            elif e.kind == "fault":
                rows = hours[hours["code"] == "a21026"]
                assert (rows["Flag"] == "D").all() and (rows["Avg"] == 0).all()
            if e.kind != "outage":
                others = hours[~hours["code"].isin(e.codes(outlet))]
                assert (others["Flag"] == "N").all()
        # outside the events every flag is N and no limit is reached
        event_hours = {h for e in events for h in _hours(e)}
        quiet = table[~table["time"].isin(event_hours)]
        assert (quiet["Flag"] == "N").all()
        stat = "ZsAvg" if outlet.kind == "flue" else "Avg"
        for code, limit in outlet.limits.items():
            rows = quiet[quiet["code"] == code]
            assert (rows[stat] <= limit).all(), (outlet.site, code, rows[stat].max())
            if outlet.driver == "synthetic":  # the real series' minutes may pass it
                assert (rows["Max" if outlet.kind == "water" else "ZsMax"] <= limit).all()


def test_flue_gas_physics(month: tuple) -> None:
    """Load-following flow and O2; converted = measured × (21 − O2ref)/(21 − O2); Cou = C × Q."""
    scenario, devices = month
    for outlet in scenario.outlets:
        if outlet.kind != "flue":
            continue
        table = decoded_hours(devices, outlet.site)
        wide = table[table["Flag"] == "N"].pivot(index="time", columns="code", values="Avg")
        wide = wide.dropna()
        # O2 rises as load (and so flow) falls
        assert np.corrcoef(wide["a19001"], wide["a00000"])[0, 1] < -0.5
        assert wide["a19001"].between(3, 19).all()
        normal = table[(table["Flag"] == "N") & table["code"].isin(["a21026", "a21002"])]
        normal = normal.merge(wide["a19001"].rename("o2"), left_on="time", right_index=True)
        normal = normal.merge(wide["a00000"].rename("q"), left_on="time", right_index=True)
        ratio = normal["ZsAvg"] / (normal["Avg"] * (21 - outlet.o2_ref) / (21 - normal["o2"]))
        assert ratio.between(0.97, 1.03).all()  # hourly means of minute conversions
        kg = normal["Avg"] * normal["q"] * 3600 * 1e-6
        assert (normal["Cou"] / kg).between(0.98, 1.02).all()


def test_gas_turbine_carries_the_real_series(month: tuple, shared: Path) -> None:
    scenario, devices = month
    real = pd.read_csv(shared / "data" / "sources" / "gt_2015.csv")
    real.columns = [c.strip() for c in real.columns]
    gt = next(o for o in scenario.outlets if o.driver == "gt_2015")
    table = decoded_hours(devices, gt.site)
    touched = {h for e in scenario.events_at(gt.site) for h in _hours(e)}
    nox = table[(table["code"] == "a21002") & ~table["time"].isin(touched)]
    rows = ((nox["time"] - START) / timedelta(hours=1)).astype(int).to_numpy()
    # row i of the data set is hour i of the scenario (dates assigned by the simulator)
    assert len(nox) > 600
    np.testing.assert_allclose(nox["ZsAvg"], real["NOX"].to_numpy()[rows], atol=6e-4)
    co = table[(table["code"] == "a21005") & ~table["time"].isin(touched)]
    np.testing.assert_allclose(co["ZsAvg"], real["CO"].to_numpy()[rows], atol=6e-4)
    assert nox["ZsAvg"].max() < gt.limits["a21002"]  # 119.68 < 120 (GB 13223-2011 Table 1)


def test_scenario_checks() -> None:
    scenario = plant(1, start=START, days=5, events=[])
    site = scenario.outlets[0].site
    good = Event("exceedance", site, START + timedelta(hours=5), 2, "a21026", 1.5)
    assert scenario.with_events([good]).events == (good,)
    bad = [
        [good, Event("stop", site, START + timedelta(hours=8), 3)],  # too close
        [Event("exceedance", site, START, 2, "a19001", 1.5)],  # O2 has no limit
        [Event("stop", site, START + timedelta(days=5), 1)],  # outside
        [Event("stop", site, START + timedelta(minutes=30), 1)],  # not on the hour
        [Event("flood", site, START, 1)],
        [Event("stop", "SYN01-DA999", START, 1)],
    ]
    for events in bad:
        with pytest.raises(ScenarioError):
            scenario.with_events(events)
    with pytest.raises(ScenarioError):
        plant(0, start=START)


def test_custom_events() -> None:
    """Events placed by hand: a manual value (S), a waste-water stop (F), a particulate
    fault (D), a calibration of NOx alone (C)."""
    base = plant(2, start=START, days=2, events=[], minute_days=0, gas_turbine=False)
    da, dw = base.outlets[0].site, base.outlets[-1].site
    events = [
        Event("manual", da, START + timedelta(hours=2), 2),
        Event("fault", da, START + timedelta(hours=8), 1, "a34013"),
        Event("calibration", da, START + timedelta(hours=14), 1, "a21002"),
        Event("stop", dw, START + timedelta(hours=5), 4),
    ]
    scenario = base.with_events(events)
    devices = cems_devices(scenario)
    flue = decoded_hours(devices, da).set_index(["time", "code"])
    water = decoded_hours(devices, dw).set_index(["time", "code"])
    for h in (2, 3):
        row = flue.loc[(START + timedelta(hours=h), "a21026")]
        assert row["Flag"] == "S" and row["Avg"] == base.outlets[0].base["a21026"]
    row = flue.loc[(START + timedelta(hours=8), "a34013")]
    assert row["Flag"] == "D" and row["Avg"] == 0
    assert flue.loc[(START + timedelta(hours=8), "a21026")]["Flag"] == "N"
    row = flue.loc[(START + timedelta(hours=14), "a21002")]
    assert row["Flag"] == "C" and row["Avg"] > 50
    assert flue.loc[(START + timedelta(hours=14), "a21026")]["Flag"] == "N"
    for h in range(5, 9):
        assert (water.loc[START + timedelta(hours=h)]["Flag"] == "F").all()
        assert water.loc[(START + timedelta(hours=h), "w00000")]["Avg"] == 0
    assert (water.loc[START + timedelta(hours=9)]["Flag"] == "N").all()
    # no minute frames at all with minute_days=0
    assert all(b";CN=2051;" not in f.data for d in devices for f in d.frames)
