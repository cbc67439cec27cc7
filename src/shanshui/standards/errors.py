"""Errors of :mod:`shanshui.standards` (see the tree in :mod:`shanshui.errors`)."""

from __future__ import annotations

from shanshui.errors import CallerError


class StandardsError(CallerError, ValueError):
    """Arguments a standard does not define (an unknown pollutant, a non-numeric column …)."""
