"""``shanshui permits import FILE [--limits CSV] | list | show ID | evaluate [--now TIME]``
(``--db`` or ``--postgres``).

``import`` reads a permit in the JSON layout of ``docs/permits.md`` (and optionally a CSV
limits table that replaces the limits of the outlets it names), checks it whole, then stores
it in one transaction, audited; bad input prints ``file: field: reason`` and changes nothing
(exit 1). ``list`` prints the permits, ``show`` one permit as JSON. ``evaluate`` runs the
rules of :mod:`shanshui.rules` once (what ``shanshui serve`` does every minute) and prints the
alarms that are not closed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from shanshui import store as st
from shanshui.cli.target import DbOption, PostgresOption, store_target
from shanshui.errors import ShanshuiError
from shanshui.permits import read_permit

app = typer.Typer(
    help="Emission permits (排污许可证): import, list, show, evaluate.", no_args_is_help=True
)


def register(main: typer.Typer) -> None:
    """Mount ``permits`` on the main app."""
    main.add_typer(app, name="permits", help="Emission permits: import, list, show, evaluate.")


#: How long ``permits evaluate`` waits for a serve process's rules run to end [s] (a run
#: takes seconds; longer means that process is stuck or the turn was never given back).
TURN_WAIT_S = 120.0


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The permit, JSON (docs/permits.md).")],
    *,
    limits: Annotated[
        Path | None,
        typer.Option("--limits", help="CSV limits table replacing the outlets' limits."),
    ] = None,
    db: DbOption = None,
    postgres: PostgresOption = None,
    actor: Annotated[str, typer.Option(help="Who imports (audit log).")] = "cli",
    reason: Annotated[str | None, typer.Option(help="Why (audit log).")] = None,
) -> None:
    """Check and store a permit (insert or replace by id), audited; nothing on error."""
    target = store_target(db, postgres)
    try:
        permit = read_permit(file, limits_csv=limits)
        with st.open_store(target) as store:
            changed = store.put_permit(permit, actor=actor, reason=reason)
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    n_limits = sum(len(o.limits) for o in permit.outlets)
    what = "stored" if changed else "unchanged (the same permit is stored)"
    typer.echo(
        f"permit {permit.id} ({permit.enterprise.name}): {what}; {len(permit.outlets)} outlets, "
        f"{n_limits} limits, {len(permit.totals)} annual totals"
    )


@app.command("list")
def list_(db: DbOption = None, postgres: PostgresOption = None) -> None:
    """One line per permit: id, enterprise, validity, outlets."""
    try:
        with st.open_store(store_target(db, postgres)) as store:
            permits = store.permits()
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    for p in permits:
        tag = " SYNTHETIC" if p.synthetic else ""
        outlets = ",".join(o.code for o in p.outlets)
        typer.echo(
            f"{p.id}\t{p.enterprise.id}\t{p.enterprise.name}\t{p.valid_from}..{p.valid_to}\t"
            f"{outlets}{tag}"
        )


@app.command("show")
def show(
    permit_id: Annotated[str, typer.Argument(help="Permit id.")],
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """The permit as JSON (the import layout)."""
    try:
        with st.open_store(store_target(db, postgres)) as store:
            found = store.permit(permit_id)
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    if found is None:
        typer.echo(f"error: no permit {permit_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))


@app.command("evaluate")
def evaluate(
    *,
    db: DbOption = None,
    postgres: PostgresOption = None,
    now: Annotated[
        str | None, typer.Option(help="Evaluation time, ISO 8601 with zone (default: now).")
    ] = None,
    lookback_days: Annotated[
        float, typer.Option(min=0.05, help="Days of data re-evaluated (late data inside).")
    ] = 2.0,
) -> None:
    """Run the permit rules once (exceedance, offline, flags, annual totals) and print the
    alarms still open."""
    from shanshui.rules import RulesJob  # noqa: PLC0415 - keeps the CLI's start light

    when = None  # the clock when the run gets its turn
    if now is not None:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise typer.BadParameter(f"not an ISO 8601 time: {now!r}") from None
        if when.utcoffset() is None:
            raise typer.BadParameter("--now needs a zone, e.g. 2026-02-01T00:00:00+08:00")
    try:
        with st.open_store(store_target(db, postgres)) as store:
            # a serve process sharing the database may be evaluating: wait for its turn
            job = RulesJob(store, lookback=timedelta(days=lookback_days))
            result = job.run_once(when, wait=TURN_WAIT_S)
            lasting = store.alarms(state=["open", "acknowledged"])
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    if result.skipped:
        typer.echo(
            f"error: another process has been evaluating the rules for {TURN_WAIT_S:g} s"
            " (a shanshui serve on the same database); nothing was evaluated, try again",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"evaluated at {result.now.isoformat()}: {result.opened} opened, {result.updated} "
        f"updated, {result.closed} closed; {len(lasting)} not closed"
    )
    for a in lasting:
        typer.echo(
            f"{a.id}\t{a.state}\t{a.rule}\t{a.site}\t{a.parameter}\t"
            f"{a.opened_at.isoformat()}\t{a.hours} h"
        )
