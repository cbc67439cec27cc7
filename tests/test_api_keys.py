"""API keys kept in the store (migration 0002), the ``shanshui keys`` CLI, the admin
endpoints, and the write endpoints' roles: issuing, revoking (effective within seconds),
approving a pending device (audited), and 401/403 in the one error shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from shanshui.api import create_app, hash_key, new_key
from shanshui.cli import app as cli
from shanshui.store import Device, Store, StoreInputError, open_store
from shanshui.store.seed import seed

pytest_plugins = ["pg"]


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    target = (
        tmp_path / "k.duckdb" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    )
    with open_store(target) as s:
        yield s


def test_the_store_keeps_digests_and_revocations(store: Store) -> None:
    token = new_key()
    key = store.add_api_key(hash_key(token), "operator", "station team", actor="test")
    assert key.digest == hash_key(token) and token not in repr(key)
    (listed,) = store.api_keys(active=True)
    assert (listed.id, listed.role, listed.label, listed.revoked) == (
        key.id, "operator", "station team", None,
    )  # fmt: skip
    with pytest.raises(StoreInputError):
        store.add_api_key(hash_key(token), "admin", "again", actor="test")  # same digest
    with pytest.raises(StoreInputError):
        store.add_api_key(hash_key("x"), "root", "bad role", actor="test")
    with pytest.raises(StoreInputError):
        store.add_api_key("not-a-digest", "admin", "bad digest", actor="test")
    assert store.revoke_api_key(key.id, actor="test", reason="left") is True
    assert store.revoke_api_key(key.id, actor="test") is False
    assert store.api_keys(active=True) == []
    assert store.api_keys(active=False)[0].revoked is not None
    with pytest.raises(StoreInputError):
        store.revoke_api_key("nope", actor="test")
    audit = store.audit_log(entity="api_key")
    assert [(a.action, a.key) for a in audit] == [("issue", key.id), ("revoke", key.id)]
    assert all(hash_key(token) not in str(a) for a in audit)  # the digest is not logged


def test_the_cli_issues_lists_and_revokes(tmp_path: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    runner = CliRunner()
    issued = runner.invoke(cli, ["keys", "issue", "--role", "admin", "--label", "ops", "--db", db])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    with open_store(db) as s:
        (key,) = s.api_keys()
    assert key.digest == hash_key(token) and key.role == "admin"
    listed = runner.invoke(cli, ["keys", "list", "--db", db])
    assert key.id in listed.stdout and token not in listed.stdout and "in force" in listed.stdout
    revoked = runner.invoke(cli, ["keys", "revoke", key.id, "--db", db, "--reason", "rotated"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    bad = runner.invoke(cli, ["keys", "issue", "--role", "root", "--label", "x", "--db", db])
    assert bad.exit_code == 1


class InProcess:
    """A synchronous face of ``httpx.AsyncClient`` over ``httpx.ASGITransport`` (in process;
    starlette's InProcess warns about httpx, and pytest turns warnings into errors)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[InProcess, Store, str]]:
    """A seeded store with one pending device, an app over it, and an admin key."""
    with open_store(tmp_path / "a.duckdb") as s:
        seed(s)
        admin = new_key()
        s.add_api_key(hash_key(admin), "admin", "root of trust", actor="test")
        s.note_unknown_device(
            "MN0000000000009", peer="10.0.0.9:4000", seen=datetime.now(UTC), protocol="2017"
        )
        app = create_app(s)
        yield InProcess(app), s, admin
        app.state.readers.close()


def test_admin_issues_and_revokes_keys_through_the_api(
    served: tuple[InProcess, Store, str],
) -> None:
    client, store, admin = served
    head = {"X-API-Key": admin}
    # writes without the right role: 401 without a key, 403 with too low a role
    _error(client.post("/api/v1/admin/keys", json={"role": "operator", "label": "a"}), 401,
           "unauthorized")  # fmt: skip
    made = client.post(
        "/api/v1/admin/keys", json={"role": "operator", "label": "team"}, headers=head
    )
    assert made.status_code == 201, made.text
    token, key_id = made.json()["token"], made.json()["id"]
    op = {"X-API-Key": token}
    _error(client.post("/api/v1/admin/keys", json={"role": "admin", "label": "b"}, headers=op),
           403, "forbidden")  # fmt: skip
    _error(client.post("/api/v1/admin/keys", json={"role": "root", "label": "c"}, headers=head),
           422, "validation_failed")  # fmt: skip
    assert client.get("/api/v1/devices", headers=op).status_code == 200
    listed = client.get("/api/v1/admin/keys", headers=head).json()
    assert listed["roles"] == {"operator": 1, "admin": 1} and listed["total"] == 2
    assert all("token" not in k and "digest" not in k for k in listed["items"])
    # revoked through the API: refused at once in this process
    gone = client.delete(f"/api/v1/admin/keys/{key_id}", headers=head, params={"reason": "x"})
    assert gone.status_code == 200 and gone.json()["revoked"] is not None
    _error(client.get("/api/v1/devices", headers=op), 401, "invalid_key")
    _error(client.delete("/api/v1/admin/keys/nope", headers=head), 404, "not_found")
    # revoked in the store by another process (the CLI): refused within the cache's TTL
    second = client.post(
        "/api/v1/admin/keys", json={"role": "operator", "label": "t2"}, headers=head
    ).json()
    assert client.get("/api/v1/devices", headers={"X-API-Key": second["token"]}).status_code == 200
    store.revoke_api_key(second["id"], actor="cli")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = client.get("/api/v1/devices", headers={"X-API-Key": second["token"]})
        if r.status_code == 401:
            break
        time.sleep(0.2)
    _error(r, 401, "invalid_key")
    actions = [(a.action, a.actor) for a in store.audit_log(entity="api_key")]
    assert ("issue", "apikey:" + store.api_keys(active=True)[0].id) in actions  # by the admin


def test_an_operator_approves_a_pending_device(served: tuple[InProcess, Store, str]) -> None:
    client, store, admin = served
    url = "/api/v1/devices/MN0000000000009/approve"
    body = {"site": "1001A", "password": "123456", "reason": "new logger at 万寿西宫"}
    _error(client.post(url, json=body), 401, "unauthorized")
    token = client.post(
        "/api/v1/admin/keys",
        json={"role": "operator", "label": "ops"},
        headers={"X-API-Key": admin},
    ).json()["token"]
    op = {"X-API-Key": token}
    pending = client.get("/api/v1/devices/pending", headers=op).json()
    assert [d["mn"] for d in pending["items"]] == ["MN0000000000009"]
    _error(client.post(url, json={"reason": "no site"}, headers=op), 422, "validation_failed")
    _error(client.post(url, json=body | {"site": "NOPE"}, headers=op), 422, "validation_failed")
    _error(client.post("/api/v1/devices/MN1/approve", json=body, headers=op), 404, "not_found")
    done = client.post(url, json=body, headers=op)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "active" and done.json()["site"] == "1001A"
    assert "password_hash" not in done.json() and done.json()["password_set"] is True
    device = store.device("MN0000000000009")
    assert device is not None and device.status == "active" and device.password_hash
    assert client.get("/api/v1/devices/pending", headers=op).json()["total"] == 0
    mine = [a for a in store.audit_log(entity="device") if a.key == "MN0000000000009"]
    (entry,) = [a for a in mine if a.action != "recall"]
    assert entry.actor.startswith("apikey:k") and entry.reason == body["reason"]
    # approved from pending: the device is asked for its hourly data meanwhile (HJ 212-2017
    # 2061 history request, tests/test_recall.py), by the same operator
    (asked,) = [a for a in mine if a.action == "recall"]
    assert asked.actor == entry.actor and asked.new_value["cn"] == "2061"
    assert entry.old_value["status"] == "pending" and entry.new_value["status"] == "active"
    one = client.get("/api/v1/devices/MN0000000000009", headers=op).json()
    assert one["mn"] == "MN0000000000009"


def test_a_device_model_is_never_shown_with_its_hash(served: tuple[InProcess, Store, str]) -> None:
    client, store, admin = served
    store.upsert_devices([Device("MN7", password_hash="scrypt$x", site="1001A")], actor="t")
    listed = client.get("/api/v1/devices", headers={"X-API-Key": admin}).json()
    assert all("password_hash" not in d for d in listed["items"])
    assert "scrypt$x" not in str(listed)


def test_postgres_api_reads_through_its_own_connections(pg_url: str) -> None:
    """With PostgreSQL the API opens its own connections (a pool), not the writer's; a key
    issued in the database by another process is honoured, a commit is seen at once."""
    with open_store(pg_url) as store:
        seed(store)
        app = create_app(store, readers=2)
        members = list(app.state.readers._free.queue)
        assert len(members) == 2 and all(m is not store for m in members)
        client = InProcess(app)
        token = new_key()
        store.add_api_key(hash_key(token), "operator", "pg", actor="test")
        assert client.get("/api/v1/devices", headers={"X-API-Key": token}).status_code == 200
        t = datetime(2025, 1, 1, 4, tzinfo=UTC)
        store.write_observations([("1001A", "PM2.5", "avg", "hour", t, 80.0, "N")])
        app.state.cache.clear()
        items = client.get("/api/v1/latest").json()["items"]
        assert [(i["site"], i["values"]["PM2.5"]["value"]) for i in items] == [("1001A", 80.0)]
        app.state.readers.close()
