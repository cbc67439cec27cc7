"""``shanshui keys`` — issue, list and revoke API keys (kept in the store as digests).

``shanshui keys issue --role operator --label NAME`` prints the new key once; the store keeps
only its SHA-256 digest (:mod:`shanshui.api.auth`). With DuckDB the file is held by a
running ``shanshui serve``: stop it first, or use the admin endpoints (``/api/v1/admin/keys``)
of the running server. A revocation reaches running servers within seconds.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shanshui import store as st
from shanshui.api.auth import hash_key, new_key
from shanshui.cli.target import DbOption, PostgresOption, store_target
from shanshui.errors import ShanshuiError

app = typer.Typer(no_args_is_help=True, add_completion=False)

Actor = Annotated[str, typer.Option(help="Who does it (audit log).")]


def register(main: typer.Typer) -> None:
    """Add the ``keys`` sub-commands to the main app."""
    main.add_typer(app, name="keys", help="API keys: issue, list, revoke (admin).")


def _fail(exc: ShanshuiError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command("issue")
def issue(
    role: Annotated[str, typer.Option(help="operator or admin.")],
    label: Annotated[str, typer.Option(help="Whose key it is (shown in lists and logs).")],
    db: DbOption = None,
    postgres: PostgresOption = None,
    actor: Actor = "cli",
) -> None:
    """Issue a key and print it — once: only its digest is kept."""
    target = store_target(db, postgres)
    token = new_key()
    try:
        with st.open_store(target) as store:
            key = store.add_api_key(hash_key(token), role, label, actor=actor)
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"id {key.id} role {key.role} label {key.label!r}", err=True)
    typer.echo("the key (shown once; send it as X-API-Key):", err=True)
    typer.echo(token)


@app.command("list")
def list_keys(
    db: DbOption = None,
    postgres: PostgresOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """List the keys (id, role, label, created, revoked); never the keys themselves."""
    target = store_target(db, postgres)
    try:
        with st.open_store(target) as store:
            keys = store.api_keys()
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    rows = [
        {
            "id": k.id,
            "role": k.role,
            "label": k.label,
            "created": k.created.isoformat(),
            "revoked": None if k.revoked is None else k.revoked.isoformat(),
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        state = f"revoked {r['revoked']}" if r["revoked"] else "in force"
        typer.echo(f"{r['id']}\t{r['role']}\t{r['label']}\t{r['created']}\t{state}")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list).")],
    db: DbOption = None,
    postgres: PostgresOption = None,
    reason: Annotated[str | None, typer.Option(help="Why (audit log).")] = None,
    actor: Actor = "cli",
) -> None:
    """Revoke a key; running servers refuse it within seconds."""
    target = store_target(db, postgres)
    try:
        with st.open_store(target) as store:
            done = store.revoke_api_key(key_id, actor=actor, reason=reason)
    except ShanshuiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"revoked {key_id}" if done else f"{key_id} was revoked already")
