"""Pollution-source pages (issue 6, item 5): ``/enterprise/{id}`` and ``/sources``.

The enterprise page shows the enterprise's permit (outlets and limits), its online
monitoring data with the permitted hourly limit drawn on them, its alarms and its emissions
of the year against the permitted annual totals; ``/sources`` shows the regional share of
sources and of source-hours in compliance (全面达标排放). Everything is read through the
API's own functions (:mod:`shanshui.api.routes_permits`, ``routes_alarms``,
``routes_sources``); the online data, which the air-quality ``/series`` endpoint does not
serve (outlets are not air sites), come from this module's JSON endpoint
``/portal/enterprise/{id}/online.json``, which reads the store like the API does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shanshui.api import routes_alarms, routes_permits, routes_sources
from shanshui.api.common import store_of
from shanshui.api.errors import ApiError
from shanshui.web.data import call
from shanshui.web.i18n import lang_of
from shanshui.web.pages import render

router = APIRouter(include_in_schema=False)

_BEIJING = ZoneInfo("Asia/Shanghai")
#: Days of online data the enterprise page draws by default, and at most.
ONLINE_DAYS, MAX_ONLINE_DAYS = 7, 31
#: Days of the regional compliance period by default (the API allows up to 92).
COMPLIANCE_DAYS = 30

#: HJ 212-2017 §6.6 data flags, as the pages name them.
FLAGS = {
    "zh": {"N": "正常", "F": "停运", "M": "维护", "S": "手工输入", "D": "故障", "C": "校准",
           "T": "超测量上限", "B": "通讯异常"},
    "en": {"N": "normal", "F": "stopped", "M": "maintenance", "S": "manual input",
           "D": "fault", "C": "calibration", "T": "over range", "B": "communication fault"},
}  # fmt: skip
#: The alarm rules of :mod:`shanshui.rules`, as the pages name them.
RULES = {
    "zh": {"exceedance": "小时浓度超标", "daily_exceedance": "日均浓度超标",
           "rate_exceedance": "排放速率超标", "offline": "离线", "flag": "数据标记",
           "annual_total": "年排放量预计超许可"},
    "en": {"exceedance": "hourly exceedance", "daily_exceedance": "daily-mean exceedance",
           "rate_exceedance": "emission-rate exceedance", "offline": "offline",
           "flag": "data flag", "annual_total": "annual total on course to exceed"},
}  # fmt: skip


def _beijing(text: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM`` Beijing time ("" for None)."""
    if not text:
        return ""
    return pd.Timestamp(text).tz_convert(_BEIJING).strftime("%Y-%m-%d %H:%M")


def _outlet_sites(permits: list[dict[str, Any]]) -> list[str]:
    return [o["site"] for p in permits for o in p["outlets"] if o.get("site")]


def _newest(request: Request, sites: list[str]) -> pd.Timestamp | None:
    """The newest hourly reading of ``sites`` (Beijing time), or None."""
    if not sites:
        return None
    with store_of(request) as store:
        rows = store.latest(sites, period="hour")
    if rows.empty:
        return None
    return pd.Timestamp(pd.to_datetime(rows["time"]).max()).tz_convert(_BEIJING)


def _names(request: Request) -> dict[str, tuple[str, str]]:
    with store_of(request) as store:
        return {p.code: (p.name, p.unit) for p in store.parameters()}


@router.get("/enterprise/{enterprise_id}", response_class=HTMLResponse)
def enterprise_page(request: Request, enterprise_id: str) -> HTMLResponse:
    """An enterprise: outlets, limits on the online data, alarms, annual totals vs permit."""
    try:
        ent = call(routes_permits.enterprise, request, enterprise_id=enterprise_id)
    except ApiError:
        return render(
            request, "enterprise.html", {"ent": None, "enterprise_id": enterprise_id}, status=404
        )
    permits = [call(routes_permits.permit, request, permit_id=p["id"]) for p in ent["permits"]]
    alarms = call(
        routes_alarms.alarms,
        request, limit=500, offset=0, state=None, site=None, rule=None,
        enterprise=enterprise_id, since=None,
    )["items"]  # fmt: skip
    newest = _newest(request, _outlet_sites(permits))
    totals = None
    if newest is not None:
        try:
            totals = call(
                routes_sources.totals, request, enterprise_id=enterprise_id, year=newest.year
            )
        except ApiError:
            totals = None
    lang = lang_of(request)
    for a in alarms:
        a["opened_local"] = _beijing(a["opened_at"])
        a["closed_local"] = _beijing(a.get("closed_at"))
        a["rule_name"] = RULES[lang].get(a["rule"], a["rule"])
        a["flag_name"] = FLAGS[lang].get(a["parameter"], "") if a["rule"] == "flag" else ""
    return render(
        request,
        "enterprise.html",
        {
            "ent": ent,
            "enterprise_id": enterprise_id,
            "permits": permits,
            "alarms": alarms,
            "open_alarms": sum(a["state"] != "closed" for a in alarms),
            "totals": totals,
            "newest": newest.strftime("%Y-%m-%d %H:%M") if newest is not None else None,
            "names": _names(request),
            "flags": FLAGS[lang],
            "days": ONLINE_DAYS,
        },
    )


@router.get("/portal/enterprise/{enterprise_id}/online.json")
def online(request: Request, enterprise_id: str, days: int = ONLINE_DAYS) -> JSONResponse:
    """Hourly online data of the enterprise's limited pollutants over the last ``days`` days
    up to its newest hour, each with its permitted hourly limit.

    The value judged is the one the permit names (HJ 75-2017 / the permit): the converted
    hourly mean ``zsavg`` (折算浓度) where the limit is ``converted``, else ``avg``. Points:
    ``[time (Beijing, start of the hour), value, flag]``.
    """
    days = min(max(days, 1), MAX_ONLINE_DAYS)
    # an unknown enterprise raises ApiError: 404 in the API's one error shape
    ent = call(routes_permits.enterprise, request, enterprise_id=enterprise_id)
    permits = [call(routes_permits.permit, request, permit_id=p["id"]) for p in ent["permits"]]
    newest = _newest(request, _outlet_sites(permits))
    names = _names(request)
    outlets: list[dict[str, Any]] = []
    for p in permits:
        for o in p["outlets"]:
            series = []
            if newest is not None and o.get("site"):
                start = (newest - pd.Timedelta(days=days) + pd.Timedelta(hours=1)).to_pydatetime()
                end = (newest + pd.Timedelta(hours=1)).to_pydatetime()
                codes = [lim["parameter"] for lim in o["limits"]]
                with store_of(request) as store:
                    rows = store.observations(o["site"], codes, start=start, end=end, period="hour")
                for lim in o["limits"]:
                    statistic = "zsavg" if lim.get("converted") else "avg"
                    one = rows[
                        (rows["parameter"] == lim["parameter"]) & (rows["statistic"] == statistic)
                    ]
                    times = pd.to_datetime(one["time"]).dt.tz_convert(_BEIJING)
                    series.append(
                        {
                            "parameter": lim["parameter"],
                            "name": names.get(lim["parameter"], (lim["parameter"], ""))[0],
                            "unit": lim.get("unit") or names.get(lim["parameter"], ("", ""))[1],
                            "statistic": statistic,
                            "limit": lim.get("hourly"),
                            "reference_o2": lim.get("reference_o2"),
                            "points": [
                                [t.isoformat(), float(v), f]
                                for t, v, f in zip(
                                    times,
                                    one["value"].to_numpy(np.float64),
                                    one["flag"],
                                    strict=True,
                                )
                            ],
                        }
                    )
            outlets.append(
                {"code": o["code"], "name": o["name"], "site": o.get("site"), "kind": o["kind"],
                 "series": series}
            )  # fmt: skip
    return JSONResponse(
        {
            "enterprise": enterprise_id,
            "days": days,
            "newest": newest.isoformat() if newest is not None else None,
            "outlets": outlets,
        }
    )


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request) -> HTMLResponse:
    """Regional source compliance: share of sources and of source-hours in compliance."""
    with store_of(request) as store:
        outlets = [s.code for s in store.sites(kind="outlet")]
    newest = _newest(request, outlets)
    last = newest.date() if newest is not None else None
    first = last - dt.timedelta(days=COMPLIANCE_DAYS - 1) if last else None
    region = request.query_params.get("region") or None
    result = None
    if first is not None and last is not None:
        try:
            result = call(routes_sources.compliance, request, start=first, end=last, region=region)
        except ApiError:
            result = None
    open_alarms: dict[str, int] = {}
    for a in call(
        routes_alarms.alarms,
        request, limit=1000, offset=0, state=["open", "acknowledged"], site=None, rule=None,
        enterprise=None, since=None,
    )["items"]:  # fmt: skip
        key = a.get("enterprise") or ""
        open_alarms[key] = open_alarms.get(key, 0) + 1
    return render(
        request,
        "sources.html",
        {"result": result, "first": first, "last": last, "open_alarms": open_alarms},
    )
