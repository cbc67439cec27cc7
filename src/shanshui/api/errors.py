"""The API's errors, all in the one error shape of :mod:`shanshui.ingest.http_ingest`.

``{"error": {"code", "message", "details": [...]}}`` for every status: FastAPI's own 404
(unknown path), 405 and 422 (request validation) through the ingest module's installer,
:class:`ApiError` raised by the routes, the store's errors (422 bad input, 503 store down),
and 500 for anything unexpected — logged with its traceback, answered without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shanshui.ingest.http_ingest import error_response, install_error_handlers
from shanshui.store import StoreError, StoreInputError

__all__ = ["ApiError", "ErrorShield", "install"]

log = logging.getLogger("shanshui.api")

_WWW = {"WWW-Authenticate": 'Bearer realm="shanshui api"'}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class ErrorShield:
    """ASGI middleware: an exception no handler took becomes a logged 500 in the one shape.

    (Starlette's own server-error middleware would answer plain text and re-raise.) Once a
    response has started (a streamed download) nothing can be answered any more: the error
    is logged and the connection closed by re-raising.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("API internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal_error", "an unexpected error occurred")
            await response(scope, receive, send)


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
        log.error("API: the store failed: %s", exc)
        return error_response(
            503, "store_unavailable", "the store could not answer; retry later",
            headers={"Retry-After": "5"},
        )  # fmt: skip

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StoreInputError, store_input)
    app.add_exception_handler(StoreError, store_error)
    app.add_middleware(ErrorShield)
