"""Regional compliance figures (全面达标排放) and annual totals against permits.

:func:`regional_compliance` — over ``[start, end)`` and the enterprises of a region:

- source-hours: an outlet-hour is *judged* when at least one permitted pollutant had a judged
  hourly value (rule (a) of :mod:`shanshui.rules`: ≥ 45 valid minutes, HJ 76-2017 Annex B, or
  the device's valid hourly record) and *in compliance* when none of them exceeded its
  permitted hourly concentration (the definition of
  :func:`shanshui.rules.compliance.outlet_hours`); share = compliant / judged outlet-hours;
- sources: an enterprise (排污单位) is judged when any of its outlet-hours was, and in
  compliance when none of its judged outlet-hours exceeded; share = compliant / judged.

:func:`enterprise_totals` — the emissions so far of one enterprise in a year against its
permitted annual totals (rule (d)'s ``so_far`` and ``projection``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from shanshui.rules.conditions import bind_outlets, judge_hours, permit_totals
from shanshui.store.api import Store

__all__ = ["enterprise_totals", "regional_compliance"]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def regional_compliance(
    store: Store, start: datetime, end: datetime, *, region: str | None = None
) -> dict[str, Any]:
    """Compliance of the sources under permit in ``region`` (GB/T 2260 code, the regions
    below it included; None: all) over ``[start, end)``; see the module docstring."""
    enterprises = {e.id: e for e in store.enterprises(region=region)}
    permits = [p for p in store.permits() if p.enterprise.id in enterprises]
    bound = bind_outlets(permits, start, end)
    judged = judge_hours(store, bound, start, end)
    # outlet-hour → exceeded? (None entries are not judged)
    hours: dict[tuple[str, datetime], bool] = {}
    for (site, _par), by_hour in judged.items():
        for hour, (exceeds, _value) in by_hour.items():
            if exceeds is None:
                continue
            hours[(site, hour)] = hours.get((site, hour), False) or exceeds
    # each outlet-hour counts for the enterprise whose permit holds the outlet in that hour
    # (an outlet may change hands from one permit period to the next)
    per_enterprise: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # judged, compliant
    for (site, hour), exceeded in hours.items():
        term = bound[site].at(hour)
        assert term is not None  # judged hours are held by a permit
        counts = per_enterprise[term.permit.enterprise.id]
        counts[0] += 1
        counts[1] += 0 if exceeded else 1
    judged_hours = sum(n for n, _ok in per_enterprise.values())
    compliant_hours = sum(ok for _n, ok in per_enterprise.values())
    judged_sources = [e for e, (n, _ok) in per_enterprise.items() if n > 0]
    compliant_sources = [e for e in judged_sources if per_enterprise[e][0] == per_enterprise[e][1]]
    return {
        "region": region,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "sources": {
            "under_permit": len({p.enterprise.id for p in permits}),
            "judged": len(judged_sources),
            "compliant": len(compliant_sources),
            "share": _share(len(compliant_sources), len(judged_sources)),
        },
        "source_hours": {
            "judged": judged_hours,
            "compliant": compliant_hours,
            "share": _share(compliant_hours, judged_hours),
        },
        "enterprises": [
            {
                "id": e,
                "name": enterprises[e].name,
                "judged_hours": n,
                "compliant_hours": ok,
                "compliant": n > 0 and n == ok,
            }
            for e, (n, ok) in sorted(per_enterprise.items())
        ],
    }


def enterprise_totals(store: Store, enterprise: str, year: int, now: datetime) -> dict[str, Any]:
    """Per pollutant with a permitted total in ``year``: emitted so far [t] (up to ``now`` or
    the year's end), the elapsed fraction of the year, the projection [t] and the permitted
    total [t/a]. The permit used is the enterprise's permit valid in that year that starts
    last."""
    candidates = [
        p
        for p in store.permits(enterprise=enterprise)
        if p.valid_from <= date(year, 12, 31) and p.valid_to >= date(year, 1, 1)
        and any(t.year == year for t in p.totals)
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    permit_id = None
    if candidates:
        permit = max(candidates, key=lambda p: p.valid_from)
        permit_id = permit.id
        for t in permit_totals(store, permit, year, now):
            rows.append(
                {
                    "parameter": t.parameter,
                    "emitted_t": t.so_far,
                    "elapsed_fraction": t.fraction,
                    "projection_t": None if math.isnan(t.projection) else t.projection,
                    "permitted_t": t.permitted,
                    "share_of_permitted": t.so_far / t.permitted,
                    "on_course_to_exceed": t.projection > t.permitted,
                }
            )
    return {
        "enterprise": enterprise,
        "year": year,
        "permit": permit_id,
        "unit": "t",
        "rule": "emitted = sum of hourly cou (kg) / 1000; projection = emitted / elapsed "
        "fraction of the Beijing natural year",
        "totals": rows,
    }
