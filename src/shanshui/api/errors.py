"""The API's errors, all in the one error shape of :mod:`shanshui.ingest.http_ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shanshui.ingest.http_ingest import error_response, install_error_handlers
from shanshui.store import StoreError, StoreInputError

__all__ = ["ApiError", "install"]

_WWW = {"WWW-Authenticate": 'Bearer realm="shanshui api"'}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def install(app: FastAPI) -> None:
    """FastAPI's own errors (404/405/422) via the ingest installer, plus ours and the store's."""
    install_error_handlers(app)

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = _WWW if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, exc.details, headers=headers)

    async def store_input(request: Request, exc: Exception) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(503, "store_unavailable", "the store could not answer")

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StoreInputError, store_input)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(Exception, internal)
