"""``POST /api/v1/ingest``: authentication, validation in one error shape, all-or-nothing
writes, idempotence — in process through ``httpx.ASGITransport``, on DuckDB and PostgreSQL.

Expected values are the readings the tests send; units and flags follow GB 3095-2012 Table 1
(µg/m³, CO mg/m³) and HJ 212-2017 (flag N = normal); the start-of-period label is DESIGN §4.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shanshui.ingest.http_ingest import create_ingest_app
from shanshui.store import AIR_PARAMETERS, Device, Site, Store, hash_password, open_store

pytest_plugins = ["pg"]

URL = "http://ingest.test/api/v1/ingest"
PASSWORD = "s3cret-密码"
FAST = {"n": 2**10}  # cheap scrypt for tests; the hash records its cost


def _open(request: pytest.FixtureRequest, backend: str) -> Store:
    target = ":memory:" if backend == "duckdb" else request.getfixturevalue("pg_url")
    s = open_store(target)
    s.upsert_parameters(AIR_PARAMETERS)
    s.upsert_sites(
        [
            Site("1001A", "万寿西宫", "air", "110000", 116.3621, 39.8784),
            Site("1002A", "定陵", "air", "110000", 116.2202, 40.2915, role="reference"),
        ]
    )
    pw = hash_password(PASSWORD, **FAST)
    s.upsert_devices(
        [
            Device("MN1001A", "active", pw, "http", "1001A"),
            Device("MNPENDING", "pending", pw, "http", "1002A"),
            Device("MNNOSITE", "active", pw, "http", None),
        ],
        actor="test",
    )
    return s


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """DuckDB in memory: the HTTP layer's checks do not depend on the back end."""
    s = _open(request, "duckdb")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def both(request: pytest.FixtureRequest) -> Iterator[Store]:
    """DuckDB and PostgreSQL: for the tests whose outcome the store decides."""
    s = _open(request, request.param)
    try:
        yield s
    finally:
        s.close()


def _auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(
    store: Store,
    body: Any,
    *,
    auth: str | None = None,
    content_type: str = "application/json",
    raw: bytes | None = None,
    url: str = URL,
    **app_options: Any,
) -> httpx.Response:
    """One request through the ASGI app, in process."""
    app = create_ingest_app(store, **app_options)
    headers = {"content-type": content_type}
    headers["authorization"] = auth if auth is not None else _auth("MN1001A", PASSWORD)
    if auth == "":
        del headers["authorization"]
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post(url, content=content, headers=headers)

    return asyncio.run(go())


def reading(**kw: Any) -> dict[str, Any]:
    base = {"site": "1001A", "parameter": "PM2.5", "time": "2025-01-04T05:00:00+08:00"}
    base["value"] = 35.0
    return {**base, **kw}


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details": [...]}}, with
    ``details_total`` when ``details`` lists only the first problems."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) - {"details_total"} == {"code", "message", "details"}
    assert ("details_total" in err) == (err.get("details_total", 0) > len(err["details"]))
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list)
    return err


def test_readings_are_stored_and_counted(both: Store) -> None:
    readings = [
        reading(),
        reading(parameter="CO", value=1.2, flag="N"),
        reading(time="2025-01-03T22:00:00Z", value=40),  # = 2025-01-04 06:00 Beijing
        reading(parameter="PM10", period="day", time="2025-01-04T00:00:00+08:00", value=80.5),
    ]
    resp = post(both, {"readings": readings})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"received": 4, "inserted": 4, "unchanged": 0, "corrected": 0}
    stored = both.observations("1001A").sort_values(["parameter", "period", "time"])
    got = [
        (r.parameter, r.period, r.time.isoformat(), r.value, r.flag)
        for r in stored.itertuples(index=False)
    ]
    assert got == [
        ("CO", "hour", "2025-01-03T21:00:00+00:00", 1.2, "N"),
        ("PM10", "day", "2025-01-03T16:00:00+00:00", 80.5, "N"),
        ("PM2.5", "hour", "2025-01-03T21:00:00+00:00", 35.0, "N"),
        ("PM2.5", "hour", "2025-01-03T22:00:00+00:00", 40.0, "N"),
    ]
    assert set(stored["statistic"]) == {"avg"}
    assert set(stored["source"]) == {"http:MN1001A"}
    device = both.device("MN1001A")
    assert device is not None and device.last_seen is not None


def test_site_defaults_to_the_device_site(store: Store) -> None:
    r = reading()
    del r["site"]
    resp = post(store, {"readings": [r]})
    assert resp.status_code == 200, resp.text
    assert len(store.observations("1001A")) == 1


def test_resend_is_unchanged_and_a_new_value_is_an_audited_correction(both: Store) -> None:
    body = {"readings": [reading(), reading(parameter="NO2", value=20)]}
    assert post(both, body).json()["inserted"] == 2
    again = post(both, body)
    assert again.json() == {"received": 2, "inserted": 0, "unchanged": 2, "corrected": 0}
    assert len(both.observations("1001A")) == 2
    fixed = post(both, {"readings": [reading(value=36.0, flag="C")]})
    assert fixed.json() == {"received": 1, "inserted": 0, "unchanged": 0, "corrected": 1}
    row = both.observations("1001A", "PM2.5").iloc[0]
    assert (row["value"], row["flag"]) == (36.0, "C")
    audit = [a for a in both.audit_log(entity="observation") if a.site == "1001A"]
    assert len(audit) == 1
    assert audit[0].actor == "device:MN1001A"
    assert audit[0].old_value == {"value": 35.0, "flag": "N"}
    assert audit[0].new_value == {"value": 36.0, "flag": "C"}


@pytest.mark.parametrize(
    "auth",
    [
        "",  # no credentials
        "Bearer abc",  # another scheme
        "Basic !!!notbase64",
        _auth("MN1001A", "wrong"),
        _auth("MNUNKNOWN", PASSWORD),
        _auth("", PASSWORD),
    ],
    ids=["none", "bearer", "not-base64", "wrong-password", "unknown-mn", "empty-mn"],
)
def test_bad_credentials_are_401_and_store_nothing(store: Store, auth: str) -> None:
    resp = post(store, {"readings": [reading()]}, auth=auth)
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"].startswith("Basic ")
    assert store.observations("1001A").empty


def test_wrong_password_is_counted_on_the_device(both: Store) -> None:
    post(both, {"readings": [reading()]}, auth=_auth("MN1001A", "wrong"))
    post(both, {"readings": [reading()]}, auth=_auth("MN1001A", "wrong2"))
    device = both.device("MN1001A")
    assert device is not None and device.refused_logins == 2
    assert both.device("MNUNKNOWN") is None  # an HTTP client does not create devices


def test_pending_device_and_device_without_site_are_403(store: Store) -> None:
    r = reading(site="1002A")
    assert_error(
        post(store, {"readings": [r]}, auth=_auth("MNPENDING", PASSWORD)), 403, "device_not_active"
    )
    assert_error(
        post(store, {"readings": [r]}, auth=_auth("MNNOSITE", PASSWORD)), 403, "device_without_site"
    )
    assert store.observations(["1001A", "1002A"]).empty


def test_reading_for_another_site_is_403_and_nothing_is_stored(both: Store) -> None:
    resp = post(both, {"readings": [reading(), reading(site="1002A")]})
    err = assert_error(resp, 403, "forbidden_site")
    assert err["details"][0]["loc"] == ["readings", 1, "site"]
    assert both.observations(["1001A", "1002A"]).empty


@pytest.mark.parametrize(
    ("bad", "loc", "kind"),
    [
        (reading(time="2025-01-04T05:00:00"), ["readings", 1, "time"], "timezone_aware"),
        (reading(value="35"), ["readings", 1, "value"], "float_type"),
        (reading(value=None), ["readings", 1, "value"], "float_type"),
        (reading(flag="normal"), ["readings", 1, "flag"], "string_pattern_mismatch"),
        (reading(statistic="mean"), ["readings", 1, "statistic"], "value_error"),
        (reading(period="week"), ["readings", 1, "period"], "value_error"),
        (reading(colour="red"), ["readings", 1, "colour"], "extra_forbidden"),
        ({"site": "1001A", "parameter": "PM2.5", "value": 1}, ["readings", 1, "time"], "missing"),
        (reading(parameter="PM1"), ["readings", 1, "parameter"], "unknown_parameter"),
        (reading(time="2025-01-04T05:30:00+08:00"), ["readings", 1, "time"], "time_alignment"),
        (
            reading(period="day", time="2025-01-04T05:00:00+08:00"),
            ["readings", 1, "time"],
            "time_alignment",
        ),
        (reading(time="2999-01-01T00:00:00+08:00"), ["readings", 1, "time"], "time_future"),
        (reading(value=99.0), ["readings", 1], "duplicate"),  # same key as readings[0]
    ],
)
def test_invalid_reading_is_422_with_its_location_and_nothing_is_stored(
    store: Store, bad: dict[str, Any], loc: list[Any], kind: str
) -> None:
    resp = post(store, {"readings": [reading(), bad]})
    err = assert_error(resp, 422, "validation_failed")
    assert any(d["loc"] == loc and d["type"] == kind for d in err["details"]), err
    assert store.observations("1001A").empty  # all or nothing: readings[0] was valid


@pytest.mark.parametrize(
    "body",
    [{}, {"readings": []}, {"readings": "x"}, [reading()], {"readings": [reading()], "x": 1}],
)
def test_invalid_envelope_is_422(store: Store, body: Any) -> None:
    assert_error(post(store, body), 422, "validation_failed")


def test_not_json_is_400_and_wrong_media_type_is_415(store: Store) -> None:
    assert_error(post(store, None, raw=b'{"readings": ['), 400, "malformed_json")
    resp = post(store, {"readings": [reading()]}, content_type="text/csv")
    assert_error(resp, 415, "unsupported_media_type")


def test_body_over_the_limit_is_413(store: Store) -> None:
    body = {"readings": [reading(time=f"2025-01-04T{h:02d}:00:00+08:00") for h in range(24)]}
    assert_error(post(store, body, max_body=1000), 413, "payload_too_large")
    assert store.observations("1001A").empty


def test_unknown_path_uses_the_same_error_shape(store: Store) -> None:
    resp = post(store, {}, url="http://ingest.test/api/v1/nothing")
    assert_error(resp, 404, "not_found")


def test_openapi_documents_the_body(store: Store) -> None:
    app = create_ingest_app(store)
    schema = app.openapi()
    op = schema["paths"]["/api/v1/ingest"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert "readings" in body["properties"]
    assert {"200", "401", "422"} <= set(op["responses"])


def test_times_come_back_as_given_instants(store: Store) -> None:
    # 05:00+08:00 and 21:00Z the day before are the same instant: one key, a duplicate
    body = {"readings": [reading(), reading(time="2025-01-03T21:00:00Z")]}
    err = assert_error(post(store, body), 422, "validation_failed")
    assert err["details"][0]["type"] == "duplicate"
    assert post(store, {"readings": [reading()]}).status_code == 200
    t = store.observations("1001A").iloc[0]["time"]
    assert t == datetime(2025, 1, 3, 21, tzinfo=UTC)


def test_ingest_server_runs_in_the_callers_event_loop(store: Store) -> None:
    """Real HTTP on loopback through uvicorn, as ``shanshui serve`` runs it."""
    from shanshui.ingest.http_ingest import ingest_server

    async def go() -> httpx.Response:
        server = ingest_server(store, "127.0.0.1", 0)
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient() as client:
                return await client.post(
                    f"http://127.0.0.1:{port}/api/v1/ingest",
                    json={"readings": [reading()]},
                    headers={"authorization": _auth("MN1001A", PASSWORD)},
                )
        finally:
            server.should_exit = True
            await task

    resp = asyncio.run(go())
    assert resp.status_code == 200, resp.text
    assert resp.json()["inserted"] == 1
    assert len(store.observations("1001A")) == 1


def test_store_failure_is_503_with_retry_after(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shanshui.store import StoreError

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk full (simulated)")

    monkeypatch.setattr(store, "write_observations", fail)
    resp = post(store, {"readings": [reading()]})
    assert_error(resp, 503, "store_unavailable")
    assert int(resp.headers["retry-after"]) > 0
