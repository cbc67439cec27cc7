"""The public portal: server-rendered pages over the same core as the API (issue 5, item 2).

:func:`mount` adds the portal's routes and static files to the FastAPI app built by
:func:`shanshui.api.create_app`: the pages ``/`` (map), ``/ranking``, ``/station/{code}``,
``/about``, ``/enterprise/{id}`` and ``/sources`` (pollution sources), the map's
boundaries ``/portal/regions.geojson`` and the static files under
``/assets`` (CSS, the pages' scripts, ``vendor/echarts.min.js`` once ``make assets`` ran).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the portal's pages and static files to ``app``."""
    # imported here: the pages use the API's functions, and the API imports this package
    from shanshui.web import sources  # noqa: PLC0415
    from shanshui.web.pages import STATIC, router  # noqa: PLC0415

    app.include_router(router)
    app.include_router(sources.router)
    app.mount("/assets", StaticFiles(directory=str(STATIC)), name="portal-assets")
