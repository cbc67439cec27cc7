"""The open read API: :func:`create_app` builds a FastAPI app over a store.

Conventions (issue 5, item 1):

- every path is under ``/api/v1``; OpenAPI at ``/openapi.json``, the docs at ``/docs``;
- times: hourly values are labelled by the start of the hour in Beijing time (UTC+8),
  days are natural days 00:00–24:00 Beijing time (DESIGN §4); ``from``/``to`` are dates
  ``YYYY-MM-DD``, both included;
- every error is ``{"error": {"code", "message", "details": [...]}}`` (the shape of
  :mod:`shanshui.ingest.http_ingest`, whose handler installer is reused);
- lists are paginated with ``limit``/``offset`` and answer ``total``;
- reading needs no key; devices need the operator role (see :mod:`shanshui.api.auth`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from fastapi import FastAPI

from shanshui.api import routes_air, routes_data, routes_devices, routes_sites
from shanshui.api.auth import ApiKeys
from shanshui.api.errors import install
from shanshui.store import Store
from shanshui.web import mount as mount_portal

__all__ = ["create_app"]

PREFIX = "/api/v1"


def create_app(store: Store, *, keys: ApiKeys | Mapping[str, str] | None = None) -> FastAPI:
    """The API over ``store``.

    Parameters
    ----------
    store : an open store (seeded with regions and sites).
    keys : the API keys: an :class:`ApiKeys` or a mapping of SHA-256 key digests
        (:func:`~shanshui.api.auth.hash_key`) to roles (``operator``, ``admin``); none: only
        public reading is possible.
    """
    app = FastAPI(
        title="shanshui open data API",
        version="1",
        description=__doc__,
        docs_url="/docs",
    )
    app.state.store = store
    app.state.store_lock = threading.Lock()
    app.state.keys = keys if isinstance(keys, ApiKeys) else ApiKeys(keys)
    install(app)
    for module in (routes_sites, routes_data, routes_air, routes_devices):
        app.include_router(module.router, prefix=PREFIX)
    mount_portal(app)
    return app
