"""``shanshui sites`` — register and list monitoring sites.

``shanshui sites add CODE --name … --kind air|outlet|water|groundwater --region 110000 --lon …
--lat … --db PATH`` registers a site the national station list does not hold (a local
station, a source outlet, a water section, a groundwater well), audited, through
:func:`shanshui.ingest.onboarding.add_site`, the rules of ``POST /api/v1/sites``. Its data
can then be imported (``shanshui import``) or sent by a device registered with ``shanshui
devices add``. ``shanshui sites list`` lists the sites.

Writing commands refuse a ``--db`` file that does not exist (``shanshui init`` creates one):
a mistyped path must not become a new, empty store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from shanshui import store as st
from shanshui.cli.target import DbOption, PostgresOption, store_target
from shanshui.errors import ShanshuiError
from shanshui.ingest.onboarding import add_site
from shanshui.store.api import KINDS, ROLES, Site, Store

__all__ = ["app", "missing_store_message", "open_existing", "register"]

app = typer.Typer(no_args_is_help=True, add_completion=False)


def register(main: typer.Typer) -> None:
    """Add the ``sites`` sub-commands to the main app."""
    main.add_typer(app, name="sites", help="Monitoring sites: register local ones, list them.")


def missing_store_message(db: Path) -> str:
    """The refusal of a ``--db`` that names no file (the words of ``shanshui assess``)."""
    return (
        f"no store at {db} (no such DuckDB file); create it with "
        f"`shanshui init --db {db}` (or check the path)"
    )


@contextmanager
def open_existing(db: Path | None, postgres: str | None) -> Iterator[Store]:
    """The store of ``--db``/``--postgres`` for a writing command; a missing DuckDB file or
    a store that cannot be opened prints ``error: …`` and exits 1 (creating nothing)."""
    target = store_target(db, postgres)
    if db is not None and not db.is_file():
        typer.echo(f"error: {missing_store_message(db)}", err=True)
        raise typer.Exit(1)
    try:
        store = st.open_store(target)
    except ShanshuiError as exc:
        typer.echo(f"error: cannot open the store: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        yield store
    finally:
        store.close()


@app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="Site code, e.g. LOCAL01.")],
    *,
    name: Annotated[str, typer.Option(help="Site name.")],
    kind: Annotated[str, typer.Option(help=f"Site kind: {', '.join(sorted(KINDS))}.")],
    region: Annotated[str, typer.Option(help="GB/T 2260 region code, e.g. 110000 (Beijing).")],
    lon: Annotated[float, typer.Option(help="Longitude \\[degrees, WGS-84].")],
    lat: Annotated[float, typer.Option(help="Latitude \\[degrees, WGS-84].")],
    role: Annotated[
        str, typer.Option(help=f"{' or '.join(sorted(ROLES))} (对照点: not in the city value).")
    ] = "assessment",
    tz: Annotated[str, typer.Option(help="IANA time zone of its natural day.")] = "Asia/Shanghai",
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    actor: Annotated[str, typer.Option(help="Who registers it (audit log).")] = "cli",
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Register a site (audited); a code registered already is refused."""
    site = Site(code, name, kind, region, lon, lat, role=role, tz=tz)
    with open_existing(db, postgres) as store:
        try:
            made = add_site(store, site, actor=actor, reason=reason)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"registered site {made.code} ({made.kind}, region {made.region})")


@app.command("list")
def list_sites(
    *,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region code (exact).")] = None,
    db: DbOption = None,
    postgres: PostgresOption = None,
) -> None:
    """Sites by code: code, kind, region, role, lon, lat, name (tab-separated)."""
    with open_existing(db, postgres) as store:
        try:
            found = store.sites(kind=kind, region=region)
        except ShanshuiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    for s in found:
        typer.echo(f"{s.code}\t{s.kind}\t{s.region}\t{s.role}\t{s.lon}\t{s.lat}\t{s.name}")
