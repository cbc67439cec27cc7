"""The public portal: server-rendered pages over the same core as the API (issue 5, item 2).

:func:`mount` adds the portal's routes and static files to the FastAPI app built by
:func:`shanshui.api.create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the portal's pages to ``app`` (nothing yet)."""
