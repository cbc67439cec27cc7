"""The permits, alarms and sources API (issue 6) over a DuckDB store with hand-made data.

Plant: the shipped synthetic example permit (``data/sources/example_permit.json``): SO2 at
DA001 limited to 50 mg/m³ at 6 % O2 (GB 13223-2011 Table 2). Minute data, O2 11 % (conversion
factor (21 − 6)/(21 − 11) = 1.5, GB 13223-2011 §5.2), SO2 per UTC hour of 2026-03-01:
hour 0: 40 → 60 (exceeds), hour 1: 30 → 45 (within), hour 2: 40 → 60 (exceeds).
Expected (rules in shanshui/rules/__init__.py): two SO2 exceedance alarms, the first opened
00:00 and closed 01:00, the second opened 02:00 and open; nothing else.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

from shanshui.api import ApiKeys, create_app, hash_key, new_key
from shanshui.permits import read_permit
from shanshui.rules import RulesJob
from shanshui.rules.binding import DELIVERY
from shanshui.store import Parameter, Store, open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SITE = "SYN-PLANT01-DA001"
EXAMPLE = resources.files("shanshui") / "data/sources/example_permit.json"
KEY = new_key()


class Client:
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def call(self, method: str, path: str, *, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"X-API-Key": key} if key else {}

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                return await c.request(method, path, headers=headers, **kw)

        return asyncio.run(go())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "s.duckdb") as s:
        s.upsert_parameters(
            [
                Parameter("a21026", "SO2", "mg/m³", "a21026"),
                Parameter("a19001", "O2", "%", "a19001"),
            ]
        )
        s.put_permit(read_permit(Path(str(EXAMPLE))), actor="test")
        rows = []
        # hours 0-2, and the device still reporting (03:00-03:09) when the rules run at
        # 03:10, once hour 2's records are due (hour 3, under way, is not judged)
        for hour, so2 in enumerate((40.0, 30.0, 40.0, 30.0)):
            for m in range(60 if hour < 3 else 10):
                t = T0 + timedelta(hours=hour, minutes=m)
                rows += [(SITE, "a21026", "avg", "minute", t, so2, "N"),
                         (SITE, "a19001", "avg", "minute", t, 11.0, "N")]  # fmt: skip
        cols = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
        s.write_observations(pd.DataFrame(rows, columns=cols))
        RulesJob(s).run_once(T0 + timedelta(hours=3) + DELIVERY)  # hour 2 judged
        yield s


@pytest.fixture
def client(store: Store) -> Client:
    return Client(create_app(store, keys=ApiKeys({hash_key(KEY): "operator"}), ingest=False))


def test_alarm_list_and_filters(client: Client) -> None:
    body = client.call("GET", "/api/v1/alarms").json()
    assert body["total"] == 2
    first, second = sorted(body["items"], key=lambda a: a["opened_at"])
    assert (first["rule"], first["parameter"], first["site"]) == ("exceedance", "a21026", SITE)
    assert first["opened_at"] == "2026-03-01T00:00:00+00:00"
    assert first["closed_at"] == "2026-03-01T01:00:00+00:00" and first["state"] == "closed"
    assert second["opened_at"] == "2026-03-01T02:00:00+00:00" and second["state"] == "open"
    assert second["value"] == pytest.approx(60.0) and second["threshold"] == 50
    only_open = client.call("GET", "/api/v1/alarms", params={"state": "open"}).json()
    assert [a["id"] for a in only_open["items"]] == [second["id"]]
    assert client.call("GET", "/api/v1/alarms", params={"rule": "offline"}).json()["total"] == 0
    assert client.call("GET", "/api/v1/alarms", params={"kind": "exceedance"}).json()["total"] == 2
    assert client.call("GET", "/api/v1/alarms", params={"site": "nope"}).json()["total"] == 0
    assert client.call("GET", f"/api/v1/alarms/{second['id']}").json()["id"] == second["id"]
    assert client.call("GET", "/api/v1/alarms/99999").status_code == 404
    assert client.call("GET", "/api/v1/alarms", params={"state": "bogus"}).status_code == 422


def test_acknowledge_and_close_need_an_operator(client: Client, store: Store) -> None:
    (open_one,) = client.call("GET", "/api/v1/alarms", params={"state": "open"}).json()["items"]
    path = f"/api/v1/alarms/{open_one['id']}"
    assert client.call("POST", f"{path}/acknowledge", json={"note": "x"}).status_code == 401
    done = client.call("POST", f"{path}/acknowledge", key=KEY, json={"note": "phoned"}).json()
    assert done["state"] == "acknowledged" and done["ack_note"] == "phoned"
    assert done["acknowledged_by"].startswith("apikey:") and done["acknowledged_at"]
    again = client.call("POST", f"{path}/acknowledge", key=KEY, json={"note": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    closed = client.call("POST", f"{path}/close", key=KEY, json={"note": "fixed"}).json()
    assert closed["state"] == "closed" and closed["close_note"] == "fixed"
    assert closed["closed_by"].startswith("apikey:")
    actions = [e.action for e in store.audit_log(entity="alarm")]
    assert actions == ["acknowledge", "close"]


def test_enterprises_and_permit_are_public(client: Client) -> None:
    listed = client.call("GET", "/api/v1/enterprises", params={"region": "130000"}).json()
    assert [e["id"] for e in listed["items"]] == ["SYN-PLANT01"]
    assert (
        client.call("GET", "/api/v1/enterprises", params={"region": "110000"}).json()["total"] == 0
    )
    one = client.call("GET", "/api/v1/enterprises/SYN-PLANT01").json()
    assert [o["code"] for o in one["permits"][0]["outlets"]] == ["DA001", "DA002", "DW001"]
    assert len(one["open_alarms"]) == 1
    permit_id = one["permits"][0]["id"]
    doc = client.call("GET", f"/api/v1/permits/{permit_id}").json()
    assert doc == read_permit(Path(str(EXAMPLE))).to_dict()
    assert client.call("GET", "/api/v1/enterprises/nope").status_code == 404
    assert client.call("GET", "/api/v1/permits/nope").status_code == 404


def test_limit_edits_are_audited(client: Client, store: Store) -> None:
    permit_id = read_permit(Path(str(EXAMPLE))).id
    path = f"/api/v1/permits/{permit_id}/outlets/DA001/limits/a21026"
    assert client.call("PATCH", path, json={"hourly": 35}).status_code == 401
    done = client.call("PATCH", path, key=KEY, json={"hourly": 35, "reason": "超低排放"})
    assert done.status_code == 200, done.text
    assert done.json()["limit"]["hourly"] == 35 and done.json()["limit"]["reference_o2"] == 6
    (entry,) = store.audit_log(entity="permit_limit")
    assert entry.old_value["hourly"] == 50 and entry.new_value["hourly"] == 35
    assert entry.reason == "超低排放" and entry.actor.startswith("apikey:")
    bad = client.call("PATCH", path, key=KEY, json={"hourly": -1})
    assert bad.status_code == 422
    assert (
        client.call(
            "PATCH", path.replace("DA001", "DA009"), key=KEY, json={"hourly": 1}
        ).status_code
        == 404
    )
    # PUT replaces the whole limit: a converted limit without its reference O2 is refused
    refused = client.call(
        "PUT", path, key=KEY, json={"unit": "mg/m³", "hourly": 30, "converted": True}
    )
    assert refused.status_code == 422
    assert store.permit(permit_id).outlet("DA001").limit("a21026").hourly == 35  # type: ignore[union-attr]


def test_regional_compliance_and_totals(client: Client) -> None:
    out = client.call(
        "GET", "/api/v1/sources/compliance", params={"from": "2026-03-01", "to": "2026-03-01"}
    ).json()
    assert out["source_hours"] == {"judged": 3, "compliant": 1, "share": pytest.approx(1 / 3)}
    assert out["sources"]["judged"] == 1 and out["sources"]["compliant"] == 0
    bad = client.call(
        "GET", "/api/v1/sources/compliance", params={"from": "2026-03-02", "to": "2026-03-01"}
    )
    assert bad.status_code == 422
    totals = client.call("GET", "/api/v1/enterprises/SYN-PLANT01/totals", params={"year": 2026})
    rows = {r["parameter"]: r for r in totals.json()["totals"]}
    assert set(rows) == {"a34013", "a21026", "a21002", "w01018", "w21003"}
    assert rows["a21026"]["permitted_t"] == 280 and rows["a21026"]["emitted_t"] == 0


def test_rate_alarms_are_listed_and_handled_like_the_others(client: Client, store: Store) -> None:
    """The example permit allows SO2 55 kg/h at DA001. A flue-gas flow (a00000) of 400 m³/s
    = 1 440 000 m³/h with the MEASURED SO2 of 40 / 30 / 40 mg/m³ gives 57.6 / 43.2 / 57.6
    kg/h (G = C × Q × 10⁻⁶, HJ 75-2017): two rate alarms (hour 0, closed at 01:00; hour 2,
    open), listed by the API and acknowledged through it like any alarm."""
    store.upsert_parameters([Parameter("a00000", "flow", "m³/s", "a00000")])
    rows = [
        (SITE, "a00000", "avg", "minute", T0 + timedelta(minutes=m), 400.0, "N") for m in range(180)
    ]
    cols = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
    store.write_observations(pd.DataFrame(rows, columns=cols))
    RulesJob(store).run_once(T0 + timedelta(hours=3) + DELIVERY)  # hour 2 judged
    items = client.call("GET", "/api/v1/alarms").json()["items"]
    rate = sorted(
        (a for a in items if a["rule"] == "rate_exceedance"), key=lambda a: a["opened_at"]
    )
    assert [(a["opened_at"], a["closed_at"], a["state"]) for a in rate] == [
        ("2026-03-01T00:00:00+00:00", "2026-03-01T01:00:00+00:00", "closed"),
        ("2026-03-01T02:00:00+00:00", None, "open"),
    ]
    assert rate[1]["value"] == pytest.approx(57.6) and rate[1]["threshold"] == 55
    assert rate[1]["detail"]["unit"] == "kg/h"
    # the list filters on the new rule like on the others
    only = client.call("GET", "/api/v1/alarms?rule=rate_exceedance").json()["items"]
    assert sorted(a["id"] for a in only) == sorted(a["id"] for a in rate)
    done = client.call(
        "POST", f"/api/v1/alarms/{rate[1]['id']}/acknowledge", key=KEY, json={"note": "seen"}
    ).json()
    assert done["state"] == "acknowledged"


def test_enterprise_page_shows_daily_and_rate_limits(client: Client) -> None:
    """The example permit's stacks allow SO2 55 kg/h besides 50 mg/m³ (converted, 6 % O2),
    and its waste-water outlet only daily means (COD 50 mg/L, GB 18918-2002 class 1-A): the
    enterprise page states each limit with its kind, and no hourly value where none is set."""
    html = client.call("GET", "/enterprise/SYN-PLANT01?lang=en").text
    assert "≤ <b>50.0</b> mg/m³" in html or "≤ <b>50</b> mg/m³" in html
    assert 'class="limit-rate">emission rate ≤ <b>55' in html
    # COD is named by its HJ 212 code where the store has no name for it (this fixture)
    cod = r'(w01018|COD[^<]*) <small class="limit-daily">daily mean ≤ <b>50(\.0)?</b> mg/L'
    assert re.search(cod, html)
    assert "≤ <b>—</b>" not in html
