"""The pollution-source pages (issue 6, item 5): ``/enterprise/{id}`` and ``/sources``.

A SYNTHETIC plant (``shanshui.ingest.cems_plant``) runs 10 days with two injected events
whose consequences are stated here, independently of the rules engine: a 3-hour SO2
exceedance at stack DA001 (1.6 × the permitted 35 mg/m³ converted value) gives one
exceedance alarm of 3 hours from its first hour and 3 non-compliant outlet-hours; a 6-hour
stop of DA002 gives one flag-F alarm of 6 hours (HJ 212-2017 §6.6: F = stopped).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shanshui.api import create_app
from shanshui.hj212 import CST
from shanshui.ingest.cems_plant import Event, plant
from shanshui.ingest.simulate_cems import hourly_table, register_plant
from shanshui.rules import RulesJob
from shanshui.store import open_store, seed
from test_web import Client

START = datetime(2026, 3, 1, tzinfo=CST)
DAYS = 10
EXCEEDANCE = Event("exceedance", "SYN05-DA001", START + timedelta(days=6, hours=10), 3,
                   "a21026", 1.6)  # fmt: skip
STOP = Event("stop", "SYN05-DA002", START + timedelta(days=4, hours=8), 6)


def build_plant(db: Path) -> None:
    """Store: regions and stations, plant 5 (permit, outlets), its hours, the rules run."""
    scenario = plant(5, start=START, days=DAYS, minute_days=0, events=[EXCEEDANCE, STOP])
    table = hourly_table(scenario).rename(columns={"code": "parameter"})
    with open_store(db) as store:
        seed(store)
        register_plant(store, scenario, hash_cost=4)
        store.write_observations(table.assign(period="hour"), source="test")
        RulesJob(store, lookback=timedelta(days=DAYS + 2)).run_once(
            now=START + timedelta(days=DAYS)
        )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    db = tmp_path_factory.mktemp("sources") / "plant.duckdb"
    build_plant(db)
    with open_store(db) as store:
        yield Client(create_app(store))


def test_enterprise_page_shows_permit_alarms_and_totals(client: Client) -> None:
    response = client.get("/enterprise/SYN05?lang=en")
    assert response.status_code == 200
    html = response.text
    assert "synthetic" in html and 'id="synthetic"' in html  # labelled synthetic
    assert "SYN05-PERMIT" in html
    for outlet in ("DA001", "DA002", "DW001"):
        assert f"<b>{outlet}</b>" in html
    # the permitted SO2 limit of the stacks: 35 mg/m³ converted to 6 % O2 (the permit)
    assert re.search(r"SO2 ≤ <b>35.0</b> mg/m³ <small>\(converted, O₂ 6.0 %\)", html)
    rows = re.findall(r'<tr class="alarm-(\w+)">(.*?)</tr>', html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for _, r in rows]
    exceed = [c for c in cells if c[0] == "hourly exceedance" and c[1] == "DA001"]
    assert len(exceed) == 1
    assert exceed[0][3] == EXCEEDANCE.start.strftime("%Y-%m-%d %H:%M")
    assert exceed[0][4] == EXCEEDANCE.end.strftime("%Y-%m-%d %H:%M")
    assert exceed[0][5] == "3"
    stop = [c for c in cells if c[0] == "data flag" and c[1] == "DA002" and "F" in c[2]]
    assert len(stop) == 1 and stop[0][5] == "6" and "stopped" in stop[0][2]
    assert stop[0][3] == STOP.start.strftime("%Y-%m-%d %H:%M")
    # totals of the year against the permitted totals
    assert 'id="totals"' in html and "Permitted (t)" in html


def test_online_data_carry_the_limit_and_the_exceedance(client: Client) -> None:
    data = client.get("/portal/enterprise/SYN05/online.json?days=31").json()
    da001 = next(o for o in data["outlets"] if o["code"] == "DA001")
    so2 = next(s for s in da001["series"] if s["parameter"] == "a21026")
    assert so2["statistic"] == "zsavg" and so2["limit"] == 35.0
    over = {p[0] for p in so2["points"] if p[2] == "N" and p[1] > so2["limit"]}
    expected = {(EXCEEDANCE.start + timedelta(hours=h)).isoformat() for h in range(3)}
    assert over == expected
    assert client.get("/portal/enterprise/NOPE/online.json").status_code == 404


def test_sources_page_counts_compliance(client: Client) -> None:
    html = client.get("/sources?lang=en").text
    assert 'href="/enterprise/SYN05"' in html
    # one source under permit, not in compliance (it exceeded): 0 of 1
    assert re.search(r'id="share-sources"><div class="kpi-num">0.0%</div>', html)
    judged, compliant = map(int, re.search(
        r"<td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", html).groups())  # fmt: skip
    assert judged - compliant == EXCEEDANCE.hours


def test_unknown_enterprise_and_empty_store(
    client: Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    response = client.get("/enterprise/NOPE?lang=en")
    assert response.status_code == 404 and "No such enterprise" in response.text
    db = tmp_path_factory.mktemp("sources-empty") / "empty.duckdb"
    with open_store(db) as store:
        seed(store)
    with open_store(db) as store:
        empty = Client(create_app(store))
        page = empty.get("/sources?lang=en")
        assert page.status_code == 200 and "No source data yet" in page.text
