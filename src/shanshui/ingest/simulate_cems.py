"""``shanshui simulate-cems``: SYNTHETIC CEMS devices of a plant speaking HJ 212-2017.

Each outlet of a synthetic plant (:func:`shanshui.ingest.cems_plant.plant`) is one data
logger (MN ``SYN…``): flue-gas outlets (ST 31) send minute data (CN 2051) and hourly data
(CN 2061) with ``-Min/-Avg/-Max/-Cou``, the converted ``-ZsMin/-ZsAvg/-ZsMax`` of
particulate, SO2 and NOx, and ``-Flag`` (HJ 212-2017 Appendix C, Tables C.16/C.17); the
waste-water outlet (ST 32) sends hourly data (its COD and NH3-N analysers give one result
per hour). Values come from :mod:`shanshui.ingest.cems_model`; injected events from the
scenario (:class:`~shanshui.ingest.cems_plant.Scenario`).

Sending reuses :func:`shanshui.ingest.simulate.replay` (one connection per device, Flag=5
so every upload is acknowledged with 9014, a window of unacknowledged frames, resends after
a timeout, reconnects resending everything unacknowledged). A frame is sent when its
interval ends (the minute frame of 10:00 at 10:01, the hourly frame of 10:00 at 11:00);
its QN is that sending time (``.000`` for minute frames, ``.500`` for hourly ones, + 1 ms per
further sub-packet), so QNs are unique per device and resends repeat the same bytes.
Uploads longer than 1024 bytes (HJ 212-2017 §6.3.3) are split into sub-packets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from shanshui.hj212 import CST, Message, encode, format_value, frame_segment, split_upload
from shanshui.ingest.cems_model import Series, hourly_frame_table, simulate_outlet
from shanshui.ingest.cems_plant import CODES, Scenario, device_identity, permit_document
from shanshui.ingest.simulate import OutFrame, SimDevice
from shanshui.permits import permit_from_dict
from shanshui.store.api import Device, Parameter, Site, Store
from shanshui.store.passwords import hash_password

#: Order of the statistics inside one code's group (as in HJ 212-2017 Table C.17).
ORDER: Final = ("Cou", "Min", "Avg", "Max", "ZsMin", "ZsAvg", "ZsMax")
#: Largest data segment before splitting into sub-packets (HJ 212-2017 §6.3.3) [bytes].
MAX_SEGMENT: Final = 1024


def simulate_plant(scenario: Scenario) -> dict[str, Series]:
    """Every outlet's minute and hourly values, by site code."""
    scenario.check()
    return {o.site: simulate_outlet(scenario, o) for o in scenario.outlets}


def hourly_table(scenario: Scenario, series: dict[str, Series] | None = None) -> pd.DataFrame:
    """What the devices send as hourly data (site, time [aware], code, statistic, value,
    flag), outage hours left out."""
    series = series if series is not None else simulate_plant(scenario)
    return pd.concat([hourly_frame_table(s, scenario) for s in series.values()], ignore_index=True)


Columns = list[tuple[str, list[tuple[str, list[float]]], list[str]]]


def _columns(table: dict[str, dict[str, np.ndarray]], flags: dict[str, np.ndarray]) -> Columns:
    """The table as plain lists, code by code (building frames reads them element-wise)."""
    return [
        (
            code,
            [(stat, (stats[stat] + 0.0).tolist()) for stat in ORDER if stat in stats],
            flags[code].tolist(),
        )
        for code, stats in table.items()
    ]


def _items(columns: Columns, i: int) -> dict[str, dict[str, object]]:
    items: dict[str, dict[str, object]] = {}
    for code, stats, flags in columns:
        entry: dict[str, object] = {}
        for stat, values in stats:
            value = values[i]
            if not math.isnan(value):  # NaN: not sent
                entry[stat] = value
        entry["Flag"] = flags[i]
        items[code] = entry
    return items


def _frames(
    head: tuple[str, str, str, str, str],
    data_time: datetime,
    send: datetime,
    columns: Columns,
    i: int,
) -> list[OutFrame]:
    """The upload of element ``i`` of ``columns``: ``head`` = (ST, CN, QN, PW, MN).

    Written directly in the canonical layout of :meth:`shanshui.hj212.Message.build`
    (header, ``DataTime`` first, one ``;`` group per code; the tests check the bytes are
    what ``Message.build`` + ``encode`` give) because building a Message per minute frame
    costs 5× more; an upload over 1024 bytes goes through ``Message.build`` and
    :func:`~shanshui.hj212.split_upload` into sub-packets.
    """
    st, cn, qn, pw, mn = head
    groups = []
    for code, stats, flags in columns:
        entries = [
            f"{code}-{stat}={format_value(values[i])}"
            for stat, values in stats
            if not math.isnan(values[i])
        ]
        entries.append(f"{code}-Flag={flags[i]}")
        groups.append(",".join(entries))
    local = data_time.astimezone(CST).strftime("%Y%m%d%H%M%S")
    text = f"QN={qn};ST={st};CN={cn};PW={pw};MN={mn};Flag=5;CP=&&DataTime={local};"
    segment = (text + ";".join(groups) + "&&").encode()
    if len(segment) <= MAX_SEGMENT:
        return [OutFrame(qn, frame_segment(segment), send)]
    message = Message.build(
        st=st, cn=cn, qn=qn, pw=pw, mn=mn, flag=5, data_time=data_time, items=_items(columns, i)
    )
    return [OutFrame(str(m.qn), encode(m), send) for m in split_upload(message, MAX_SEGMENT)]


def _qn(when: datetime, ms: int) -> str:
    return when.astimezone(CST).strftime("%Y%m%d%H%M%S") + f"{ms:03d}"


def device_frames(scenario: Scenario, series: Series, mn: str, password: str) -> list[OutFrame]:
    """One outlet's frames in sending order (see the module docstring); ``OutFrame.time`` is
    the sending time (the end of the interval), which paces the replay."""
    outlet = series.outlet
    minute_hours = (
        0
        if outlet.kind == "water"
        else scenario.hours
        if scenario.minute_days is None
        else min(scenario.hours, scenario.minute_days * 24)
    )
    out: list[OutFrame] = []
    minutes = _columns(series.minute, series.minute_flag) if minute_hours else []
    hours = _columns(series.hour, series.hour_flag)
    for h in range(scenario.hours):
        if series.silent[h]:
            continue  # an outage: nothing is sent, ever
        hour = scenario.start + timedelta(hours=h)
        if h < minute_hours:
            for k in range(60):
                i = h * 60 + k
                start = hour + timedelta(minutes=k)
                send = start + timedelta(minutes=1)
                head = (outlet.st, "2051", _qn(send, 0), password, mn)
                out.extend(_frames(head, start, send, minutes, i))
        send = hour + timedelta(hours=1)
        head = (outlet.st, "2061", _qn(send, 500), password, mn)
        out.extend(_frames(head, hour, send, hours, h))
    return out


def cems_devices(
    scenario: Scenario, *, secret: str = "shanshui", series: dict[str, Series] | None = None
) -> list[SimDevice]:
    """The plant's devices with their frames (for :func:`shanshui.ingest.simulate.replay`)."""
    series = series if series is not None else simulate_plant(scenario)
    out = []
    for o in scenario.outlets:
        mn, password = device_identity(o.site, secret)
        out.append(
            SimDevice(o.site, mn, password, device_frames(scenario, series[o.site], mn, password))
        )
    return out


def outlet_sites(scenario: Scenario) -> list[Site]:
    """The plant's outlets as store sites (kind ``outlet``), labelled synthetic."""
    return [
        Site(
            o.site,
            o.name,
            "outlet",
            attributes={
                "synthetic": True,
                "enterprise": scenario.enterprise,
                "enterprise_name": scenario.name,
                "outlet": o.outlet,
                "system": o.st,
                "unit_type": o.unit_type,
                "reference_o2": o.o2_ref,
            },
        )
        for o in scenario.outlets
    ]


def parameters(codes: Iterable[str] = CODES) -> list[Parameter]:
    """Store parameters of the codes the devices send (HJ 212-2017 Appendix B units)."""
    return [Parameter(code, CODES[code][0], CODES[code][1], code) for code in codes]


def register_plant(
    store: Store,
    scenario: Scenario,
    *,
    secret: str = "shanshui",
    hash_cost: int = 14,
    actor: str = "simulate-cems",
    permit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the plant's outlets (sites), parameters and devices (active) in ``store``,
    and import its permit (``permit``: a document in the ``docs/permits.md`` layout;
    default :func:`~shanshui.ingest.cems_plant.permit_document`).

    ``hash_cost``: log2 of scrypt's N for the device passwords (14 = interactive).
    Returns counts and the permit id.
    """
    store.upsert_sites(outlet_sites(scenario))
    codes = sorted({c for o in scenario.outlets for c in o.codes})
    store.upsert_parameters(parameters(codes))
    devices = []
    for o in scenario.outlets:
        mn, password = device_identity(o.site, secret)
        devices.append(
            Device(mn, "active", hash_password(password, n=2**hash_cost), "2017", o.site)
        )
    n = store.upsert_devices(devices, actor=actor, reason="synthetic CEMS device")
    document = permit if permit is not None else permit_document(scenario, secret)
    doc = permit_from_dict(document, source="simulate-cems")
    store.put_permit(doc, actor=actor, reason="synthetic plant (simulate-cems)")
    return {
        "sites": len(scenario.outlets),
        "parameters": len(codes),
        "devices": n,
        "permit": doc.id,
    }
