"""Onboarding and operator-facing refusals (review 11 findings 1, 4, 7, 8).

- A station that does not speak HJ 212, or a local site, can be onboarded: the HTTP ingest
  lists an unknown MN as pending (as the gateway does, DESIGN §5 "unknown devices"), an
  operator approves it, registers sites (``POST /api/v1/sites``, ``shanshui sites add``) and
  devices (``shanshui devices add|approve|list``) — DESIGN §2: the operator "registers
  stations and devices"; §7 lists ``devices`` among the CLI commands.
- The HTTP ingest refuses impossible values: a concentration below 0 (HJ 633-2012 Table 1's
  breakpoints start at C = 0), non-finite numbers, and flags that are not HJ 212-2017 §6.6
  (Table 6) flags ``N F M S D C T B``; meteorology (TEMP in °C) may be negative.
- ``serve --db`` with a missing file is refused with the words ``assess`` uses ("no store
  at …") and points to ``shanshui init`` (README: run ``init``, then ``serve``).
- ``--help`` shows the units written as ``[s]`` and ``[bytes]``.

Expected values are the inputs the tests send and the rules of the standards named above.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from shanshui.api import create_app, hash_key, new_key
from shanshui.cli import app as cli
from shanshui.store import AIR_PARAMETERS, Device, Parameter, Region, Site, Store, open_store
from shanshui.store.passwords import verify_password
from test_api_keys import InProcess as Client  # requests to the app in process

PASSWORD = "s3cret"
MN_NEW = "NEWSTATION0000000000001"  # the reviewer's MN (23 characters)
HTTP_MN = "HTTP0000000000000000LOC1"
LOCAL = {"code": "LOCAL01", "name": "朝阳区本地站", "kind": "air", "region": "110000"}
LOCAL_XY = {"lon": 116.48, "lat": 39.95}


def _prepare(store: Store) -> None:
    """A small store: Beijing (GB/T 2260 110000), the air parameters, TEMP and one station."""
    store.upsert_regions([Region("110000", "北京市", "municipality")])
    store.upsert_parameters([*AIR_PARAMETERS, Parameter("TEMP", "温度", "°C")])
    store.upsert_sites([Site("1001A", "万寿西宫", "air", "110000", 116.3621, 39.8784)])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "o.duckdb"
    with open_store(path) as s:
        _prepare(s)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Client, Store, dict[str, str]]]:
    """The API over a small store, and an operator key's header."""
    with open_store(tmp_path / "a.duckdb") as s:
        _prepare(s)
        token = new_key()
        s.add_api_key(hash_key(token), "operator", "centre", actor="test")
        app = create_app(s)
        yield Client(app), s, {"X-API-Key": token}
        app.state.readers.close()


def _basic(mn: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{mn}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "Content-Type": "application/json"}


def ingest(client: Client, readings: list[dict[str, Any]], mn: str, pw: str) -> httpx.Response:
    return client.request(
        "POST", "/api/v1/ingest", content=json.dumps({"readings": readings}), headers=_basic(mn, pw)
    )


def _reading(**kw: Any) -> dict[str, Any]:
    return {"parameter": "PM2.5", "time": "2025-01-04T10:00:00+08:00", "value": 30.0, **kw}


def error_of(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape {"error": {"code", "message", "details"}} with ``status``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    out: dict[str, Any] = body["error"]
    return out


# ------------------------------------------------------------------ HTTP ingest: unknown MN
def test_unknown_mn_is_refused_listed_as_pending_and_can_then_be_approved(
    served: tuple[Client, Store, dict[str, str]],
) -> None:
    client, store, op = served
    refused = ingest(client, [_reading(site="1001A")], MN_NEW, PASSWORD)
    error_of(refused, 401, "unauthorized")
    assert store.observations("1001A").empty  # nothing stored
    pending = store.device(MN_NEW)
    assert pending is not None and pending.status == "pending" and pending.protocol == "http"
    assert pending.password_hash is None and pending.last_seen is not None
    listed = client.request("GET", "/api/v1/devices/pending", headers=op).json()
    assert [d["mn"] for d in listed["items"]] == [MN_NEW]
    body = {"site": "1001A", "password": PASSWORD, "reason": "new HTTP station"}
    approved = client.request("POST", f"/api/v1/devices/{MN_NEW}/approve", json=body, headers=op)
    assert approved.status_code == 200, approved.text
    done = ingest(client, [_reading()], MN_NEW, PASSWORD)
    assert done.status_code == 200, done.text
    assert done.json()["inserted"] == 1
    assert store.observations("1001A")["value"].tolist() == [30.0]


@pytest.mark.parametrize("mn", ["a;b", "x" * 65, "MN with space", "名字"])
def test_an_mn_no_operator_could_approve_is_refused_and_not_listed(
    served: tuple[Client, Store, dict[str, str]], mn: str
) -> None:
    client, store, _ = served
    error_of(ingest(client, [_reading()], mn, PASSWORD), 401, "unauthorized")
    assert store.devices() == []


# ------------------------------------------------------------------ HTTP ingest: values, flags
@pytest.fixture
def device(served: tuple[Client, Store, dict[str, str]]) -> tuple[Client, Store]:
    client, store, _ = served
    store.upsert_devices(
        [Device("MN1001A", "active", _hash(PASSWORD), "http", "1001A")], actor="test"
    )
    return client, store


def _hash(password: str) -> str:
    from shanshui.store import hash_password

    return hash_password(password, n=2**10)


@pytest.mark.parametrize(
    "bad",
    [
        _reading(value=-50.0),  # the reviewer's PM2.5 = −50 µg/m³
        _reading(parameter="CO", value=-0.1),  # mg/m³
        _reading(parameter="O3", value=-1e-9),
        _reading(value=1e308),  # the reviewer's 1e308: more than the air's own mass per m³
        _reading(parameter="CO", value=2e7),  # 20 t/m³
    ],
    ids=["pm25-neg", "co-neg", "o3-tiny-neg", "1e308", "co-huge"],
)
def test_an_impossible_concentration_is_422_and_nothing_is_stored(
    device: tuple[Client, Store], bad: dict[str, Any]
) -> None:
    client, store = device
    good = _reading(time="2025-01-04T09:00:00+08:00")
    err = error_of(ingest(client, [good, bad], "MN1001A", PASSWORD), 422, "validation_failed")
    (detail,) = err["details"]
    assert detail["loc"] == ["readings", 1, "value"] and detail["type"] == "value_range"
    assert store.observations("1001A").empty  # all or nothing


@pytest.mark.parametrize("raw", ["1e400", "-1e400", "NaN", "Infinity"])
def test_a_non_finite_value_is_refused_and_nothing_is_stored(
    device: tuple[Client, Store], raw: str
) -> None:
    client, store = device
    text = '{"readings": [{"parameter": "PM2.5", "time": "2025-01-04T10:00:00+08:00", "value": '
    resp = client.request(
        "POST", "/api/v1/ingest", content=text + raw + "}]}", headers=_basic("MN1001A", PASSWORD)
    )
    assert resp.status_code in (400, 422), resp.text  # not JSON (NaN), or not finite
    error_of(resp, resp.status_code, "malformed_json" if resp.status_code == 400 else
             "validation_failed")  # fmt: skip
    assert store.observations("1001A").empty


def test_zero_and_negative_meteorology_are_stored(device: tuple[Client, Store]) -> None:
    client, store = device
    readings = [_reading(value=0.0), _reading(parameter="TEMP", value=-12.5)]
    resp = ingest(client, readings, "MN1001A", PASSWORD)
    assert resp.status_code == 200, resp.text
    stored = store.observations("1001A").set_index("parameter")["value"]
    assert stored.to_dict() == {"PM2.5": 0.0, "TEMP": -12.5}


@pytest.mark.parametrize("flag", ["n", "X", "P", "0"])
def test_a_flag_that_is_not_an_hj212_2017_flag_is_422(
    device: tuple[Client, Store], flag: str
) -> None:
    client, store = device
    err = error_of(
        ingest(client, [_reading(flag=flag)], "MN1001A", PASSWORD), 422, "validation_failed"
    )
    (detail,) = err["details"]
    assert detail["loc"] == ["readings", 0, "flag"]
    assert "N F M S D C T B" in detail["message"]
    if flag == "n":
        assert "'N'" in detail["message"]  # says what was meant
    assert store.observations("1001A").empty


def test_every_hj212_2017_flag_is_stored_as_sent(device: tuple[Client, Store]) -> None:
    client, store = device
    flags = "NFMSDCTB"  # HJ 212-2017 §6.6 Table 6
    readings = [_reading(time=f"2025-01-04T{h:02d}:00:00+08:00", flag=f) for h, f in
                enumerate(flags)]  # fmt: skip
    assert ingest(client, readings, "MN1001A", PASSWORD).status_code == 200
    assert "".join(store.observations("1001A")["flag"]) == flags


# ------------------------------------------------------------------ POST /api/v1/sites
def test_an_operator_registers_a_site_it_is_listed_at_once_and_audited(
    served: tuple[Client, Store, dict[str, str]],
) -> None:
    client, store, op = served
    body = {**LOCAL, **LOCAL_XY, "reason": "district station"}
    error_of(client.request("POST", "/api/v1/sites", json=body), 401, "unauthorized")
    client.request("GET", "/api/v1/sites")  # fills the API's site list cache
    made = client.request("POST", "/api/v1/sites", json=body, headers=op)
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "LOCAL01" and made.json()["role"] == "assessment"
    shown = client.request("GET", "/api/v1/sites/LOCAL01")
    assert shown.status_code == 200 and shown.json()["name"] == "朝阳区本地站"
    (entry,) = store.audit_log(entity="site")
    assert (entry.action, entry.key, entry.reason) == ("create", "LOCAL01", "district station")
    assert entry.actor.startswith("apikey:")
    again = client.request("POST", "/api/v1/sites", json={**body, "name": "x"}, headers=op)
    error_of(again, 409, "conflict")
    assert next(s for s in store.sites() if s.code == "LOCAL01").name == "朝阳区本地站"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"region": "999999"}, "region"),  # not a region of the store
        ({"kind": "river"}, "kind"),  # KINDS: air, outlet, water, groundwater
        ({"lon": 181.0}, "lon"),  # WGS-84: −180..180
        ({"lat": -90.5}, "lat"),  # WGS-84: −90..90
        ({"code": "a/b"}, "code"),
        ({"code": "1001A"}, "code"),  # registered already: 409 below
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"role": "background"}, "role"),
    ],
)
def test_a_bad_site_is_refused_in_the_one_shape_and_nothing_changes(
    served: tuple[Client, Store, dict[str, str]], change: dict[str, Any], field: str
) -> None:
    client, store, op = served
    before = store.sites()
    resp = client.request("POST", "/api/v1/sites", json={**LOCAL, **LOCAL_XY, **change},
                          headers=op)  # fmt: skip
    err = error_of(resp, 409 if change == {"code": "1001A"} else 422,
                   "conflict" if change == {"code": "1001A"} else "validation_failed")  # fmt: skip
    assert any(d["loc"][-1] == field for d in err["details"]), err
    assert store.sites() == before and store.audit_log(entity="site") == []


# ------------------------------------------------------------------ the CLI
def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    return result


def test_cli_onboards_a_local_http_station_end_to_end(db: Path, tmp_path: Path) -> None:
    """The reviewer's path: a local site, a device for it, data over HTTP and from a file."""
    d = ["--db", str(db)]
    xy = ["--lon", "116.48", "--lat", "39.95"]
    added = run("sites", "add", "LOCAL01", "--name", "本地站", "--kind", "air", "--region",
                "110000", *xy, "--reason", "district network", *d)  # fmt: skip
    assert added.exit_code == 0, added.output
    again = run("sites", "add", "LOCAL01", "--name", "x", "--kind", "air", "--region", "110000",
                *xy, *d)  # fmt: skip
    assert again.exit_code == 1 and "registered already" in again.output
    bad = run("sites", "add", "LOCAL02", "--name", "x", "--kind", "air", "--region", "999999",
              *xy, *d)  # fmt: skip
    assert bad.exit_code == 1 and "region" in bad.output
    assert "LOCAL01\tair\t110000" in run("sites", "list", *d).output
    device = run("devices", "add", HTTP_MN, "--site", "LOCAL01", "--password", PASSWORD,
                 "--protocol", "http", "--hash-cost", "10", *d)  # fmt: skip
    assert device.exit_code == 0, device.output
    twice = run("devices", "add", HTTP_MN, "--site", "LOCAL01", "--password", "x", *d)
    assert twice.exit_code == 1 and "registered already" in twice.output
    nosite = run("devices", "add", "MN2", "--site", "NOPE", "--password", "x", *d)
    assert nosite.exit_code == 1 and "register it first" in nosite.output
    with open_store(db) as s:
        found = s.device(HTTP_MN)
        assert found is not None and (found.status, found.site) == ("active", "LOCAL01")
        assert found.password_hash and PASSWORD not in found.password_hash
        assert verify_password(PASSWORD, found.password_hash)
        (entry,) = [a for a in s.audit_log(entity="site")]
        assert (entry.actor, entry.reason) == ("cli", "district network")
        app = create_app(s)
        try:
            resp = ingest(Client(app), [_reading(value=12.0)], HTTP_MN, PASSWORD)
        finally:
            app.state.readers.close()
        assert resp.status_code == 200, resp.text
    csv = tmp_path / "local.csv"  # the reviewer's local.csv, an hour later
    csv.write_text("site,time,parameter,value\nLOCAL01,2025-01-04 11:00,PM2.5,30\n")
    imported = run("import", "long", str(csv), *d)
    assert imported.exit_code == 0, imported.output
    with open_store(db) as s:
        assert sorted(s.observations("LOCAL01")["value"]) == [12.0, 30.0]
    listed = run("devices", "list", *d)
    assert listed.exit_code == 0 and f"{HTTP_MN}\tactive\tLOCAL01\thttp" in listed.output
    assert PASSWORD not in listed.output and "scrypt" not in listed.output


def test_cli_approves_a_pending_device(db: Path) -> None:
    d = ["--db", str(db)]
    with open_store(db) as s:
        s.note_unknown_device(MN_NEW, peer="10.0.0.9:4000", seen=datetime.now(UTC), protocol="2017")
    pending = run("devices", "list", "--status", "pending", *d)
    assert pending.exit_code == 0 and pending.output.startswith(f"{MN_NEW}\tpending")
    nopw = run("devices", "approve", MN_NEW, "--site", "1001A", "--reason", "x", *d)
    assert nopw.exit_code == 1 and "password" in nopw.output  # it has none yet
    unknown = run("devices", "approve", "NOSUCHMN", "--site", "1001A", "--password", "p",
                  "--reason", "x", *d)  # fmt: skip
    assert unknown.exit_code == 1 and "no device" in unknown.output
    ok = run("devices", "approve", MN_NEW, "--site", "1001A", "--password", PASSWORD,
             "--reason", "checked on site", "--hash-cost", "10", *d)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    with open_store(db) as s:
        found = s.device(MN_NEW)
        assert found is not None and (found.status, found.site) == ("active", "1001A")
        assert found.password_hash is not None and verify_password(PASSWORD, found.password_hash)
        (upsert,) = [a for a in s.audit_log(entity="device") if a.action == "upsert"]
        assert (upsert.reason, upsert.actor) == ("checked on site", "cli")
        # as the API's approve: the data it sent while pending are asked for (CN 2061)
        assert [r.cn for r in s.device_recalls(MN_NEW)] == ["2061"]
    assert run("devices", "list", "--status", "pending", *d).output == "no devices pending\n"


@pytest.mark.parametrize(
    "command",
    [
        ["sites", "add", "X1", "--name", "x", "--kind", "air", "--region", "110000",
         "--lon", "116", "--lat", "40"],
        ["sites", "list"],
        ["devices", "add", "MN1", "--site", "1001A", "--password", "p"],
        ["devices", "list"],
    ],
)  # fmt: skip
def test_onboarding_commands_refuse_a_missing_store(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "typo" / "regoin.duckdb"
    result = run(*command, "--db", str(typo))
    assert result.exit_code == 1
    assert f"no store at {typo}" in result.output and "shanshui init" in result.output
    assert not typo.parent.exists()


# ------------------------------------------------------------------ serve --db
def test_serve_refuses_a_missing_db_and_points_to_init(tmp_path: Path, monkeypatch: Any) -> None:
    import shanshui.cli.serve as cli_serve

    started: list[Any] = []
    monkeypatch.setattr(cli_serve, "run", started.append)
    monkeypatch.setattr(cli_serve, "setup_json_logging", lambda level: None)
    typo = tmp_path / "typo" / "dir" / "regoin.duckdb"
    result = run("serve", "--db", str(typo))
    assert result.exit_code == 1 and started == []
    assert f"no store at {typo} (no such DuckDB file)" in result.output  # assess's words
    assert f"shanshui init --db {typo}" in result.output and "--create" in result.output
    assert not (tmp_path / "typo").exists()  # no directories, no journal, no store
    made = tmp_path / "new.duckdb"
    created = run("serve", "--db", str(made), "--create", "--log-level", "error")
    assert created.exit_code == 0, created.output
    assert len(started) == 1 and made.is_file()
    with open_store(made) as s:  # created as `shanshui init` creates it: seeded
        assert any(r.code == "110000" for r in s.regions())
        assert any(x.code == "1001A" for x in s.sites())
    again = run("serve", "--db", str(made), "--log-level", "error")  # it exists now
    assert again.exit_code == 0 and len(started) == 2


# ------------------------------------------------------------------ units in --help
@pytest.mark.parametrize(
    ("command", "units"),
    [
        (["serve"], ["Largest data segment [bytes]", "Close silent connections [s]"]),
        (["simulate"], ["Resend after this long [s]", "Give up after this long [s]"]),
        (["simulate-cems"], ["Resend after this long [s]"]),
        (["hj212", "decode"], ["data segment [bytes]"]),
    ],
)
def test_help_shows_units(command: list[str], units: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for unit in units:
        assert unit in text, text


def _options(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """(command path, help) of every option of the CLI (Typer's own command classes)."""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, (*path, name))
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", None) == "option" and getattr(param, "help", None):
            yield path, param.help


def test_no_option_help_loses_a_bracketed_unit() -> None:
    """Every ``[unit]`` an option's help writes (``\\[s]`` escaped for Rich, or plain) shows
    in that command's ``--help``, across the whole CLI."""
    root = typer.main.get_command(cli)
    checked = 0
    for path, text in _options(root):
        wanted = re.findall(r"\[[^\]\[]{1,20}\]", text.replace("\\[", "["))
        if not wanted:
            continue
        shown = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "250"}).output
        flat = " ".join(shown.split())
        for unit in wanted:
            assert unit in flat, f"{' '.join(path)}: {unit} missing from --help"
            checked += 1
    assert checked >= 10  # serve, simulate, simulate-cems, hj212, sites
