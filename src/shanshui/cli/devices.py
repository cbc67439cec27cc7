"""``shanshui devices`` — what the HJ 212 devices (data loggers) said that is not data.

``shanshui devices events MN --db PATH`` lists a device's events, newest first: equipment
running states (CN 2021, ``SBn-RS`` decoded where the code's meaning is known), run times
(2041), restarts (2081), site and instrument information (3015/3019/3020), alarm events
(2072, HJ/T 212-2005) and clock-calibration requests (1013), with the CP fields as sent
(:mod:`shanshui.ingest.events`). Times are UTC. The running API serves the same list at
``GET /api/v1/devices/{mn}/events``.

``shanshui devices recall MN --begin … --end … --reason …`` asks a device for a range of its
history (HJ 212-2017 2061/2051/2031, :mod:`shanshui.ingest.recalls`), and ``shanshui devices
recalls MN`` lists its requests with their status (waiting, sent, accepted, refused, done, no
data, failed, unanswered), attempts and the device's answer codes with their meanings; the
API has them at ``/api/v1/devices/{mn}/recalls``. These three open an existing store only
(``--db`` names a file that must exist).

Onboarding (DESIGN §2, :mod:`shanshui.ingest.onboarding`): ``shanshui devices add MN --site …
--password … [--protocol 2017|2005|2025|http]`` registers a new active device (an HJ 212 data
logger, or a station that sends HTTP JSON to ``/api/v1/ingest`` with its MN and password);
``shanshui devices approve MN --site … --password … --reason …`` approves a pending one, as
``POST /api/v1/devices/{mn}/approve`` does; ``shanshui devices list [--status pending]`` lists
them (never their password hashes). The site must be registered first (``shanshui sites
add`` for one that is not on the national list).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from shanshui.cli.sites import open_existing
from shanshui.cli.target import DbOption, PostgresOption
from shanshui.errors import ShanshuiError
from shanshui.hj212.codes import EXE_RTN, QN_RTN
from shanshui.ingest.events import event_json
from shanshui.ingest.onboarding import PROTOCOLS, add_device, approve_device
from shanshui.ingest.recalls import UNDEFINED, ranges, recall_json
from shanshui.store.api import EVENT_KINDS, STATUSES, Device
from shanshui.store.passwords import N, hash_password
from shanshui.store.recalls import Recall, recall_status

app = typer.Typer(no_args_is_help=True, add_completion=False)


def register(main: typer.Typer) -> None:
    """Add the ``devices`` sub-commands to the main app."""
    main.add_typer(
        app,
        name="devices",
        help="HJ 212 devices: register, approve, list; their events and history requests.",
    )


def _summary(row: dict[str, Any]) -> str:
    """One line of an event's content: the decoded states, else the fields as sent."""
    states = row.get("states")
    if states:
        return " ".join(
            f"{name}={s['code']}" + (f"({s['meaning']})" if s["meaning"] else "")
            for name, s in states.items()
        )
    return (
        ";".join(f"{k}={v}" for k, v in row["fields"].items() if k not in ("DataTime", "QN")) or "-"
    )


@app.command("events")
def events(
    mn: Annotated[str, typer.Argument(help="The device's MN.")],
    *,
    db: DbOption = None,
    postgres: PostgresOption = None,
    kind: Annotated[
        str | None, typer.Option(help=f"Only this kind: {', '.join(sorted(EVENT_KINDS))}.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Events at or after this ISO time, with zone.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most events.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """A device's events, newest first (time UTC, kind, CN, what it said)."""
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(f"--since {since!r} is not an ISO time") from None
        if start.utcoffset() is None:
            raise typer.BadParameter("--since needs a time zone (e.g. +08:00 or Z)")
    with open_existing(db, postgres) as store:  # a mistyped --db creates nothing
        try:
            if store.device(mn) is None:
                typer.echo(f"error: no device {mn!r}", err=True)
                raise typer.Exit(1)
            found = store.device_events(mn, since=start, kind=kind, limit=limit)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    rows = [event_json(e) for e in found]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        typer.echo(f"no events of {mn}", err=True)
        return
    for r in rows:
        typer.echo(f"{r['time']}\t{r['kind']}\t{r['cn']}\t{_summary(r)}")


def _when(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{what} {text!r} is not an ISO time") from None
    if value.utcoffset() is None:
        raise typer.BadParameter(f"{what} needs a time zone (e.g. +08:00 or Z)")
    return value


@app.command("recall")
def recall(
    mn: Annotated[str, typer.Argument(help="The device's MN.")],
    *,
    begin: Annotated[str, typer.Option(help="First data time asked for (ISO, with zone).")],
    end: Annotated[str, typer.Option(help="Last data time asked for (ISO, with zone).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    cn: Annotated[
        str, typer.Option(help="2061 hourly, 2051 minute or 2031 daily data (HJ 212-2017).")
    ] = "2061",
    actor: Annotated[str, typer.Option(help="Who asks (audit log).")] = "cli",
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Ask a device for a range of its history (补数): the request waits until the device
    sends on a connection; a gateway sends it there and stores what the device uploads."""
    start, stop = _when(begin, "--begin"), _when(end, "--end")
    with open_existing(db, postgres) as store:  # a mistyped --db creates nothing
        try:
            if store.device(mn) is None:
                typer.echo(f"error: no device {mn!r}", err=True)
                raise typer.Exit(1)
            queued = ranges(
                mn, cn, start, stop, actor=actor, reason=reason, requested=datetime.now(UTC)
            )
            store.request_recalls(queued)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    for r in queued:
        typer.echo(f"queued\t{r.cn}\t{r.begin.isoformat()}\t{r.end.isoformat()}")


@app.command("recalls")
def recalls(
    mn: Annotated[str, typer.Argument(help="The device's MN.")],
    *,
    db: DbOption = None,
    postgres: PostgresOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most requests.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """A device's history requests, newest first: CN, range (UTC), status, reason, then
    attempts, QN, when sent and the device's answers with their meanings.

    Status (:func:`shanshui.store.recalls.recall_status`, HJ 212-2017 §6.5): waiting, sent
    (no 9011 yet), accepted (9011 QnRtn=1), refused (QnRtn≠1), done (9012 ExeRtn=1), no data
    (ExeRtn=100), failed (other ExeRtn), unanswered (no 9011 after the last attempt)."""
    with open_existing(db, postgres) as store:  # a mistyped --db creates nothing
        try:
            found = store.device_recalls(mn, limit=limit)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps([recall_json(r) for r in found], ensure_ascii=False, indent=1))
        return
    if not found:
        typer.echo(f"no history requests of {mn}", err=True)
    for r in found:
        typer.echo(_recall_line(r))


def _recall_line(r: Recall) -> str:
    """One request as a tab-separated line (see :func:`recalls`)."""
    status, _, _ = recall_status(r)
    parts = [f"attempts {r.attempts}"]
    if r.qn is not None:
        parts.append(f"QN {r.qn}")
    if r.sent is not None:
        parts.append(f"sent {r.sent.isoformat()}")
    if r.qn_rtn is not None and r.answered is not None:
        meaning = QN_RTN.get(r.qn_rtn, UNDEFINED)
        parts.append(f"9011 QnRtn={r.qn_rtn} ({meaning}) {r.answered.isoformat()}")
    if r.exe_rtn is not None and r.executed is not None:
        meaning = EXE_RTN.get(r.exe_rtn, UNDEFINED)
        parts.append(f"9012 ExeRtn={r.exe_rtn} ({meaning}) {r.executed.isoformat()}")
    if r.gave_up is not None:
        parts.append(f"gave up {r.gave_up.isoformat()}")
    head = f"{r.cn}\t{r.begin.isoformat()}\t{r.end.isoformat()}\t{status}\t{r.reason}"
    return head + "\t" + "; ".join(parts)


# -- onboarding ------------------------------------------------------------------------------
#: The store's scrypt cost, log2 N (shanshui.store.passwords.N = 2**14).
HASH_COST = N.bit_length() - 1
HashCost = Annotated[
    int, typer.Option(min=10, max=20, help="log2 of scrypt N for the password hash.")
]


def _hasher(cost: int) -> Callable[[str], str]:
    return lambda password: hash_password(password, n=2**cost)


def _device_line(d: Device) -> str:
    seen = d.last_seen.isoformat() if d.last_seen else "-"
    return (
        f"{d.mn}\t{d.status}\t{d.site or '-'}\t{d.protocol or '-'}\t{seen}\t"
        f"{d.last_peer or '-'}\t{d.refused_logins}"
    )


@app.command("add")
def add(
    mn: Annotated[str, typer.Argument(help="The device's MN (HJ 212-2017: 24 characters).")],
    *,
    site: Annotated[str, typer.Option(help="The registered site it reports for.")],
    password: Annotated[
        str, typer.Option(help="Its password: HJ 212 PW, or the HTTP Basic password (hashed).")
    ],
    protocol: Annotated[
        str, typer.Option(help=f"What it speaks: {', '.join(PROTOCOLS)} (HJ 212 edition).")
    ] = "2017",
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    actor: Annotated[str, typer.Option(help="Who registers it (audit log).")] = "cli",
    hash_cost: HashCost = HASH_COST,
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Register a new active device bound to a site (audited); a known MN is refused (a
    pending one is approved instead)."""
    with open_existing(db, postgres) as store:
        try:
            made = add_device(
                store, mn, site=site, password=password, protocol=protocol, actor=actor,
                reason=reason, hasher=_hasher(hash_cost),
            )  # fmt: skip
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"registered device {made.mn} (active, site {made.site}, {made.protocol})")


@app.command("approve")
def approve(
    mn: Annotated[str, typer.Argument(help="The pending device's MN.")],
    *,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    site: Annotated[
        str | None, typer.Option(help="The site it reports for (needed if it has none).")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="Its password (needed if it has none; kept hashed).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who approves it (audit log).")] = "cli",
    hash_cost: HashCost = HASH_COST,
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Approve a device (audited): make it active, bound to a site, with a password; one
    approved from pending is asked for the data it sent while unregistered (HJ 212 2061)."""
    with open_existing(db, postgres) as store:
        try:
            done = approve_device(
                store, mn, site=site, password=password, actor=actor, reason=reason,
                now=datetime.now(UTC), hasher=_hasher(hash_cost),
            )  # fmt: skip
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"approved device {done.mn} (active, site {done.site})")


@app.command("list")
def list_devices(
    *,
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(sorted(STATUSES))}.")
    ] = None,
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Devices by MN: MN, status, site, protocol, last seen (UTC), last peer, refused logins
    (tab-separated; never the password)."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(sorted(STATUSES))}")
    with open_existing(db, postgres) as store:
        try:
            found = store.devices(status=status)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    if not found:
        typer.echo("no devices" + (f" {status}" if status else ""), err=True)
    for d in found:
        typer.echo(_device_line(d))
