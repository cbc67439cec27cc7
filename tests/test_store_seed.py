"""Seeding a store with the regions and the national air-station list, and ``shanshui init``.

References: the CNEMC station list of 2022-02-13 (``../shared/data/cnemc/station_lists``;
2,026 stations, 对照点 column) and the GB/T 2260 codes carried by the boundary files
(``../shared/data/boundaries``), read here independently of the product's copies.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shanshui.cli import store as store_cli
from shanshui.store import AIR_PARAMETERS, Store, open_store, seed
from shanshui.store.sql import migrations

pytest_plugins = ["pg"]


def _station_list(shared: Path) -> list[dict[str, str]]:
    path = shared / "data/cnemc/station_lists/站点列表-2022.02.13起.csv"
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _region_codes(shared: Path, name: str) -> dict[str, str]:
    features = json.loads((shared / "data/boundaries" / name).read_text(encoding="utf-8"))
    return {f["properties"]["name"]: f["properties"]["id"] for f in features["features"]}


def test_seed_loads_regions_and_the_national_station_list(store: Store, shared: Path) -> None:
    result = seed(store)
    again = seed(store)  # idempotent
    assert result == again
    listed = _station_list(shared)
    assert result.sites == len(listed) == 2026
    sites = {s.code: s for s in store.sites()}
    assert set(sites) == {row["监测点编码"] for row in listed}
    assert [p.code for p in store.parameters()] == sorted(p.code for p in AIR_PARAMETERS)

    regions = {r.code: r for r in store.regions()}
    hebei = _region_codes(shared, "province_hebei.geojson")
    assert len(hebei) == 11
    for name, code in hebei.items():  # Hebei's 11 prefecture cities, under Hebei
        assert regions[code].name == name and regions[code].parent == "130000"
    dezhou = _region_codes(shared, "province_shandong.geojson")["德州市"]
    assert regions[dezhou].name == "德州市"
    assert {"110000", "120000", "130000"} <= set(regions)

    # Beijing's national stations 1001A-1012A; 定陵 1002A is the reference site (对照点 Y)
    for i in range(1, 13):
        assert sites[f"{1000 + i}A"].region == "110000"
        assert sites[f"{1000 + i}A"].kind == "air"
    roles = {row["监测点编码"]: row["对照点"] for row in listed}
    assert roles["1002A"] == "Y" and sites["1002A"].role == "reference"
    assert roles["1001A"] == "N" and sites["1001A"].role == "assessment"
    assert sites["1001A"].lon == 116.3621 and sites["1001A"].lat == 39.8784
    assert sites["1622A"].attributes["city"] == "德州" and sites["1622A"].region == dezhou
    # the list has rows without coordinates ("-" or empty): stored without them
    no_coords = [r["监测点编码"] for r in listed if r["经度"] in {"", "-"}]
    assert no_coords and all(sites[c].lon is None for c in no_coords)
    # stations outside the project area keep no region
    shanghai = [r["监测点编码"] for r in listed if r["城市"] == "上海"]
    assert shanghai and all(sites[c].region is None for c in shanghai)


def _app() -> typer.Typer:
    app = typer.Typer()
    store_cli.register(app)

    @app.command()
    def other() -> None:  # a second command keeps "init" a sub-command
        """Placeholder."""

    return app


def test_init_creates_migrates_and_seeds(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    first = runner.invoke(_app(), ["init", "--db", str(db)])
    assert first.exit_code == 0, first.output
    # every migration shipped with the package is applied, in order, on a new file
    shipped = [m.version for m in migrations("duckdb")]
    assert shipped[:3] == [1, 2, 3]
    assert f"applied now: {shipped}" in first.output and "2026 sites" in first.output
    second = runner.invoke(_app(), ["init", "--db", str(db)])
    assert second.exit_code == 0 and "applied now: none" in second.output
    with open_store(db) as s:
        assert len(s.sites(kind="air")) == 2026
    for bad in ([], ["--db", str(db), "--postgres", "postgresql://x@127.0.0.1/x"]):
        result = runner.invoke(_app(), ["init", *bad])
        assert result.exit_code != 0


@pytest.mark.postgres
def test_init_on_postgres(pg_url: str) -> None:
    result = CliRunner().invoke(_app(), ["init", "--postgres", pg_url, "--no-seed"])
    assert result.exit_code == 0, result.output
    with open_store(pg_url, migrate=False) as s:
        assert s.migrate() == []
        assert s.sites() == []


def test_init_reports_an_unreachable_database() -> None:
    # port 9 (discard) on loopback: nothing listens there
    result = CliRunner().invoke(_app(), ["init", "--postgres", "postgresql://x@127.0.0.1:9/x"])
    assert result.exit_code == 1
    assert "error:" in result.output
