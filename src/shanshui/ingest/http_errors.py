"""The one error shape of the HTTP API, ``{"error": {"code", "message", "details": [...]}}``.

:func:`error_response` builds it; :func:`install_error_handlers` makes FastAPI's own errors
(404, 405, request validation) use it; :class:`RefusedError` carries a refusal out of the
checks of :mod:`shanshui.ingest.http_ingest` to its route, which answers it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shanshui.errors import PeerError

__all__ = [
    "MAX_DETAILS",
    "UNAUTHORIZED_HEADERS",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
    "RefusedError",
    "error_response",
    "install_error_handlers",
    "validation_details",
]


#: Most problems listed in one answer's ``details``. CHOICE: the first 100 (enough to fix a
#: client's systematic mistake, small enough to answer at once); ``details_total`` then says
#: how many there were in all. Unbounded, one request of 19,999 readings with 25 unknown keys
#: each was answered 559,972 details (52 MiB).
MAX_DETAILS = 100


class ErrorDetail(BaseModel):
    """One problem of a request."""

    loc: list[str | int] = []
    message: str
    type: str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []
    details_total: int | None = Field(
        None,
        description=f"How many problems there were in all; present only when ``details`` "
        f"lists just the first {MAX_DETAILS}.",
    )


class ErrorBody(BaseModel):
    """The one error shape of the API."""

    error: ErrorInfo


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    *,
    total: int | None = None,
) -> JSONResponse:
    """``{"error": {"code", "message", "details"}}`` with ``status``. Of more than
    :data:`MAX_DETAILS` problems the first are listed and ``details_total`` counts them all
    (``total``: their count when the caller listed only some of them)."""
    total = len(details) if total is None else total
    error: dict[str, Any] = {"code": code, "message": message}
    error["details"] = list(details[:MAX_DETAILS])
    if total > len(error["details"]):
        error["message"] = f"{message} ({total} problems; the first {MAX_DETAILS} are listed)"
        error["details_total"] = total
    body = {"error": error}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def validation_details(
    errors: Sequence[Any], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Pydantic's errors as ``details`` items (``loc`` after ``prefix``, without the leading
    ``body``)."""
    return [
        {
            "loc": [*prefix, *(p for p in e.get("loc", ()) if p != "body")],
            "message": e["msg"],
            "type": e["type"],
        }
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Make FastAPI's own errors (404, 405, request validation) use the one error shape."""

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = validation_details(exc.errors())
        return error_response(422, "validation_failed", "the request is not valid", details)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    _document_errors(app)


def _document_errors(app: FastAPI) -> None:
    """Document the 422 that FastAPI adds to every operation with parameters as the body it
    is answered with, :class:`ErrorBody`: FastAPI describes its own ``HTTPValidationError``
    (``{"detail": [...]}``), which no answer of this app has (review 20b, finding 7)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        shapes = schema.setdefault("components", {}).setdefault("schemas", {})
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        shapes.update(body.pop("$defs", {}))
        shapes.setdefault("ErrorBody", body)
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        named: set[str] = set()  # the security schemes the operations name
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422")
                if answer is not None:
                    answer["content"] = {"application/json": {"schema": ref}}
                for requirement in operation.get("security", []):
                    named.update(requirement)
        shapes.pop("HTTPValidationError", None)
        shapes.pop("ValidationError", None)
        if DEVICE_BASIC in named:  # the ingest's device credentials (read by the route)
            schemes = schema["components"].setdefault("securitySchemes", {})
            schemes[DEVICE_BASIC] = {
                "type": "http",
                "scheme": "basic",
                "description": "the device's MN and password, as its HJ 212 data logger's",
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: The OpenAPI name of the ingest's HTTP Basic device credentials (RFC 7617).
DEVICE_BASIC = "deviceBasic"

#: The challenge of a 401 (RFC 7617).
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="shanshui ingest", charset="UTF-8"'}


class RefusedError(PeerError):
    """An HTTP request refused (its client sent something wrong): ``response`` is the
    answer, in the one error shape."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response
