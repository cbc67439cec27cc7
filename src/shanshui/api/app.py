"""The open API: :func:`create_app` builds the one FastAPI app ``shanshui serve`` serves.

Conventions (issue 5, item 1):

- every API path is under ``/api/v1``; OpenAPI at ``/openapi.json``, the docs at ``/docs``;
  the portal (:func:`shanshui.web.mount`) at ``/``; Prometheus text at ``/metrics``;
- times: hourly values are labelled by the start of the hour in Beijing time (UTC+8),
  days are natural days 00:00–24:00 Beijing time (DESIGN §4); ``from``/``to`` are dates
  ``YYYY-MM-DD``, both included;
- every error is ``{"error": {"code", "message", "details": [...]}}`` — 404 of unknown
  paths, 405, 422 validation errors and 500 included (:mod:`shanshui.api.errors`);
- lists are paginated with ``limit``/``offset`` and answer ``total``;
- reading needs no key; devices need the operator role, keys the admin role
  (:mod:`shanshui.api.auth`); every write is audited in the store.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from shanshui.api import (
    routes_admin,
    routes_air,
    routes_daily,
    routes_data,
    routes_devices,
    routes_downloads,
    routes_sites,
    routes_sites_admin,
)
from shanshui.api.auth import ApiKeys
from shanshui.api.cache import Expiring, ResponseCache
from shanshui.api.common import ReaderPool
from shanshui.api.errors import install
from shanshui.ingest.http_ingest import create_ingest_router
from shanshui.store import Store
from shanshui.web import mount as mount_portal

__all__ = ["OPTIONAL_ROUTERS", "PREFIX", "create_app"]

PREFIX = "/api/v1"
#: Routers other modules add (issue 6); included when their module exists.
OPTIONAL_ROUTERS = ("routes_sources", "routes_permits", "routes_alarms")

#: An extra plain HTTP route: ``(method, body) -> (status, content type, body)``.
LegacyHandler = Callable[[str, bytes], Any]


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(f"shanshui.api.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"shanshui.api.{name}":
            raise
        return None


def _legacy(handler: LegacyHandler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        status, ctype, body = await handler(request.method, await request.body())
        return Response(body, status_code=status, media_type=ctype)

    return endpoint


def create_app(
    store: Store,
    *,
    keys: ApiKeys | Mapping[str, str] | None = None,
    metrics: Callable[[], bytes] | None = None,
    generation: Callable[[], int] | None = None,
    readers: int = 4,
    ingest: bool = True,
    routes: Mapping[str, LegacyHandler] | None = None,
) -> FastAPI:
    """The API (and portal) over ``store``.

    Parameters
    ----------
    store : an open store (seeded with regions and sites); the API's writes (approving a
        device, issuing keys, the HTTP ingest) go to it, reads to a :class:`ReaderPool` of
        ``readers`` read stores on the same database.
    keys : fixed API keys besides the store's: an :class:`ApiKeys` (used as given) or a
        mapping of SHA-256 key digests (:func:`~shanshui.api.auth.hash_key`) to roles
        (``operator``, ``admin``).
    metrics : what ``GET /metrics`` answers (Prometheus text); None: no ``/metrics``.
    generation : a number that changes when the store's data change (the writer's count of
        stored readings); cached answers (``/latest``) are recomputed when it moves.
    ingest : mount the HTTP JSON ingest endpoint ``POST /api/v1/ingest``.
    routes : extra plain HTTP routes by path (the old gateway HTTP server's ``routes``).
    """
    app = FastAPI(
        title="shanshui open data API",
        version="1",
        description=__doc__,
        docs_url="/docs",
    )
    pool = ReaderPool(store, readers)
    app.state.store = store
    app.state.readers = pool
    app.state.write_lock = threading.Lock()

    def stored_keys() -> list[Any]:
        with pool.acquire() as reader:
            return reader.api_keys(active=True)

    if isinstance(keys, ApiKeys):
        app.state.keys = keys
    else:
        has_keys = callable(getattr(store, "api_keys", None))
        app.state.keys = ApiKeys(keys, load=stored_keys if has_keys else None)
    app.state.cache = ResponseCache(generation)

    def all_sites() -> list[Any]:
        with pool.acquire() as reader:
            return reader.sites()

    app.state.sites = Expiring(all_sites)

    def all_parameters() -> frozenset[str]:
        with pool.acquire() as reader:
            return frozenset(p.code for p in reader.parameters())

    app.state.parameters = Expiring(all_parameters)
    install(app)
    modules = [
        routes_sites,
        routes_data,
        routes_daily,
        routes_air,
        routes_downloads,
        routes_devices,
    ]
    modules += [routes_admin, routes_sites_admin]
    modules += [m for m in map(_optional, OPTIONAL_ROUTERS) if m is not None]
    for module in modules:
        app.include_router(module.router, prefix=PREFIX)
    if ingest:
        app.include_router(create_ingest_router(store), prefix=PREFIX)
    static = resources.files("shanshui.api") / "static"
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(static)), name="api-static")
    if metrics is not None:
        render = metrics

        async def prometheus() -> Response:
            return Response(render(), media_type="text/plain; version=0.0.4; charset=utf-8")

        app.add_api_route("/metrics", prometheus, include_in_schema=False, methods=["GET"])
    for path, handler in (routes or {}).items():
        app.router.routes.append(Route(path, _legacy(handler), methods=["GET", "POST"]))
    mount_portal(app)
    return app
