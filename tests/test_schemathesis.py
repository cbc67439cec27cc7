"""Property test of the API against its own OpenAPI (schemathesis, in process over ASGI).

The store is seeded with the shipped regions and national station list and holds five days
of real data: the Beijing multi-site (PRSA, CC BY 4.0, ``/work/shared/data/beijing_multisite``)
hours of Wanshouxigong (1001A) and Dongsi (1003A), 2015-01-01 … 2015-01-05. For every
operation schemathesis generates requests (valid and invalid); no answer may be a 5xx and
every 4xx/5xx body must be the one error shape ``{"error": {"code", "message", "details"}}``.
The requests carry no key, so every write endpoint must refuse them (401).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from shanshui.api import create_app
from shanshui.ingest.importers import import_files
from shanshui.store import open_store
from shanshui.store.seed import seed

FILES = (
    "PRSA_Data_Wanshouxigong_20130301-20170228.csv",
    "PRSA_Data_Dongsi_20130301-20170228.csv",
)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _keep(line: str) -> bool:
    """PRSA rows (labelled by the hour's END) of 2015-01-01 01:00 … 2015-01-06 00:00."""
    y, m, d, h = (int(f) for f in line.split(",", 5)[1:5])
    return (y, m) == (2015, 1) and ((1 <= d <= 5 and (d, h) != (1, 0)) or (d, h) == (6, 0))


@pytest.fixture(scope="module")
def api_schema(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("st")
    paths = []
    for name in FILES:
        lines = (shared / "data/beijing_multisite" / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join([lines[0], *filter(_keep, lines[1:])]))
        paths.append(folder / name)
    store = open_store(folder / "s.duckdb")
    seed(store)
    report = import_files(store, paths, "prsa", options={"meteorology": False})
    assert not report.failures and report.inserted > 1000
    store.recompute_daily()
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(store))


def one_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is ``{"error": {"code", "message", "details": [...]}}``."""
    if response.status_code < 400:
        if case.method.upper() in WRITES:
            raise AssertionError(f"{case.method} {case.path} without a key: accepted")
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) - {"details_total"} == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert isinstance(error["details"], list)
    if case.method.upper() in WRITES:
        assert response.status_code in {400, 401, 404, 405, 413, 415, 422}, response.status_code
    return None


def test_no_5xx_and_one_error_shape(api_schema: Any) -> None:
    """Every operation, valid and invalid requests (8 examples of each per operation)."""
    checks = [not_a_server_error, one_error_shape]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=8, deadline=None, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            def run(case: Any) -> None:
                case.call_and_validate(checks=checks)

            try:
                run()
            except Unsatisfiable:
                # no parameter or body to make invalid (e.g. GET /latest)
                assert mode is GenerationMode.NEGATIVE, operation.label
                print("no invalid request exists for", operation.label)
