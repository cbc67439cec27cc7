"""HTTP JSON ingest for stations that do not speak HJ 212: ``POST /api/v1/ingest``.

Request (``Content-Type: application/json``, at most :data:`MAX_BODY_BYTES`)::

    {"readings": [{"site": "1001A", "parameter": "PM2.5",
                   "time": "2025-01-04T05:00:00+08:00", "value": 35.0,
                   "flag": "N", "statistic": "avg", "period": "hour"}, …]}

- ``time``: ISO 8601 **with** offset; it labels the start of the period (DESIGN §4), so an
  hourly value must be on the hour and a daily one at 00:00 of the site's natural day, in
  the site's time zone; at most :data:`FUTURE_SLACK` ahead of the server's clock.
- ``value``: a finite JSON number in the parameter's unit as the store registers it (µg/m³,
  CO mg/m³ for the air pollutants, GB 3095-2012 Table 1); strings are refused. A
  concentration (a parameter in a mass-concentration unit, and the AQI) cannot be negative
  (HJ 633-2012 Table 1's breakpoints start at 0; the rule of the file importers,
  :func:`shanshui.formats.validity.cannot_be_negative`) nor exceed :data:`CEILINGS`;
  meteorology (TEMP, DEWP, PRES …) may be negative.
- ``flag``: an HJ 212-2017 data flag (§6.6, Table 6: ``N F M S D C T B``, upper case; default
  ``N``); ``statistic`` one of the store's (``avg`` default), ``period`` one of ``rt minute
  hour day`` (``hour`` default).
- ``site``: optional; a device may only write its own site (the one the registry binds it to).

Authentication: HTTP Basic with the **device MN as user name and the device password** from
the store's device registry (the same credentials an HJ 212 data logger uses). Only
``active`` devices bound to a site may write. A wrong password is counted on the device
(:meth:`Store.count_refused_login`) and logged with the peer address. An unknown MN is
refused (401, nothing stored) and, as the gateway does, listed as a pending device
(:meth:`Store.note_unknown_device`, protocol ``http``) so that an operator can approve it
(``POST /api/v1/devices/{mn}/approve`` or ``shanshui devices approve MN --site … --password
…``), or register it beforehand (``shanshui devices add MN --protocol http``); an MN that is
not 1–64 letters, digits, ``_`` or ``-`` (:data:`~shanshui.ingest.onboarding.MN_PATTERN`) is
refused without being listed. Use HTTPS in front of it (a reverse proxy): Basic sends the
password in clear.

All or nothing: the readings of one request are checked together and written in one store
transaction; any error changes nothing. Idempotent: a reading already stored with the same
value and flag counts as ``unchanged``; a changed one replaces it, is audited (actor
``device:<MN>``) and counts as ``corrected``.

Responses: ``200 {"received", "inserted", "unchanged", "corrected"}``; every error has the one
shape ``{"error": {"code", "message", "details": [...]}}``:

====== ========================= ===================================================
status code                      when
====== ========================= ===================================================
400    ``malformed_json``        the body is not JSON
401    ``unauthorized``          no/garbled Basic credentials, unknown MN, wrong password
403    ``device_not_active``     the device is pending or disabled
403    ``device_without_site``   the registry binds the device to no site
403    ``forbidden_site``        a reading for another site than the device's
413    ``payload_too_large``     body over :data:`MAX_BODY_BYTES`
415    ``unsupported_media_type`` not ``application/json``
422    ``validation_failed``     a field missing, of the wrong type, out of range (a negative
                                 or impossible concentration), not an HJ 212-2017 flag,
                                 unknown parameter, misaligned time, the same key twice; ``details``
                                 lists each problem with its ``loc`` (``["readings", 3, "time"]``)
503    ``store_unavailable``     the store failed (``Retry-After`` says when to retry)
500    ``internal_error``        a bug (logged with its traceback)
====== ========================= ===================================================

Use :func:`create_ingest_app` for a complete app, or :func:`create_ingest_router` plus
:func:`install_error_handlers` to mount it on a larger FastAPI app; :func:`ingest_server`
gives a uvicorn server to run beside the HJ 212 gateway in the same event loop
(``await server.serve()`` in a task; ``server.should_exit = True`` to stop).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from shanshui.errors import StoreError
from shanshui.formats.validity import cannot_be_negative
from shanshui.hj212.codes import DATA_FLAGS
from shanshui.ingest.onboarding import MN_PATTERN
from shanshui.store.api import PERIODS, STATISTICS, Device, Store, StoreInputError
from shanshui.store.passwords import verify_password

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_READINGS",
    "IngestRequest",
    "IngestResult",
    "Reading",
    "create_ingest_app",
    "create_ingest_router",
    "error_response",
    "ingest_server",
    "install_error_handlers",
]

log = logging.getLogger("shanshui.ingest.http")

#: Largest accepted request body [bytes].
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Most readings in one request (a day of 10 parameters at minute resolution is 14,400).
MAX_READINGS = 20_000
#: How far a reading's time may lie ahead of the server clock (clock skew allowance).
FUTURE_SLACK = timedelta(minutes=10)
#: Seconds a client should wait after a 503.
RETRY_AFTER_S = 5

_FLAG = r"^[A-Za-z0-9]{1,2}$"  # then _flag: one of HJ 212-2017 Table 6

#: The most a concentration can be, by unit: a mass per volume cannot exceed the density of
#: the medium it is measured in. CHOICE (no standard bounds it): 10 kg per m³ of gas (above
#: any flue or ambient gas at standard conditions; dry air is 1.293 kg/m³ at 0 °C and
#: 101.325 kPa) and 2 kg per litre of liquid (above brine's 1.2 kg/L). Beyond them a value is
#: a fault, and one such value turns every mean it enters into infinity.
CEILINGS: dict[str, float] = {
    "ng/m³": 1e13,
    "µg/m³": 1e10,
    "mg/m³": 1e7,
    "µg/L": 2e9,
    "µg/l": 2e9,
    "mg/L": 2e6,
    "mg/l": 2e6,
}


class Reading(BaseModel):
    """One reading in an ingest request."""

    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(None, min_length=1, max_length=64, description="Site code.")
    parameter: str = Field(min_length=1, max_length=64, description="Parameter code (PM2.5).")
    time: AwareDatetime = Field(description="Start of the period, ISO 8601 with offset.")
    value: float = Field(strict=True, allow_inf_nan=False, description="In the parameter's unit.")
    flag: str = Field("N", pattern=_FLAG, description="HJ 212 data flag (N = normal).")
    statistic: str = Field("avg", description="avg, rtd, min, max, cou, zs… (HJ 212 suffix).")
    period: str = Field("hour", description="rt, minute, hour or day.")

    @field_validator("flag")
    @classmethod
    def _flag(cls, v: str) -> str:
        # HJ 212-2017 §6.6 Table 6 (shanshui.hj212.codes.DATA_FLAGS): upper-case letters; a
        # lower-case "n" is not "N" and would be stored as an invalid flag
        if v not in DATA_FLAGS:
            hint = f" (did you mean {v.upper()!r}?)" if v.upper() in DATA_FLAGS else ""
            raise ValueError(
                f"{v!r} is not an HJ 212-2017 data flag ({' '.join(DATA_FLAGS)}){hint}"
            )
        return v

    @field_validator("statistic")
    @classmethod
    def _statistic(cls, v: str) -> str:
        if v not in STATISTICS:
            raise ValueError(f"must be one of {sorted(STATISTICS)}")
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if v not in PERIODS:
            raise ValueError(f"must be one of {sorted(PERIODS)}")
        return v


class IngestRequest(BaseModel):
    """The body of ``POST /api/v1/ingest``."""

    model_config = ConfigDict(extra="forbid")

    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS)


class IngestResult(BaseModel):
    """What one request did."""

    received: int
    inserted: int
    unchanged: int
    corrected: int


class ErrorDetail(BaseModel):
    """One problem of a request."""

    loc: list[str | int] = []
    message: str
    type: str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorBody(BaseModel):
    """The one error shape of the API."""

    error: ErrorInfo


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``{"error": {"code", "message", "details"}}`` with ``status``."""
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [p for p in e.get("loc", ()) if p != "body"],
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
        details = _validation_details(exc.errors())
        return error_response(422, "validation_failed", "the request is not valid", details)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="shanshui ingest", charset="UTF-8"'}


class _RefusedError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _basic_credentials(header: str | None) -> tuple[str, str]:
    """(MN, password) from an ``Authorization: Basic …`` header (RFC 7617)."""
    if not header or not header[:6].lower() == "basic ":
        raise _RefusedError(
            error_response(
                401,
                "unauthorized",
                "HTTP Basic credentials (device MN, password) required",
                headers=_UNAUTHORIZED_HEADERS,
            )
        )
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    mn, sep, password = text.partition(":")
    if not sep or not mn:
        raise _RefusedError(
            error_response(
                401, "unauthorized", "malformed Basic credentials", headers=_UNAUTHORIZED_HEADERS
            )
        )
    return mn, password


class _Ingest:
    """The endpoint's state: the store and small caches of its reference data."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._parameters: dict[str, str] = {}  # code: unit
        self._zones: dict[str, str] = {}

    # -- run in a worker thread (the store and scrypt block) -----------------------------------
    def authenticate(self, mn: str, password: str, peer: str | None) -> Device:
        device = self.store.device(mn)
        if device is None or device.password_hash is None:
            log.warning("http ingest: refused unknown MN %r from %s", mn, peer)
            self._note_unknown(mn, peer)
            raise _RefusedError(
                error_response(
                    401,
                    "unauthorized",
                    "unknown device or wrong password",
                    headers=_UNAUTHORIZED_HEADERS,
                )
            )
        if not verify_password(password, device.password_hash):
            log.warning("http ingest: wrong password for MN %r from %s", mn, peer)
            self.store.count_refused_login(mn, peer=peer)
            raise _RefusedError(
                error_response(
                    401,
                    "unauthorized",
                    "unknown device or wrong password",
                    headers=_UNAUTHORIZED_HEADERS,
                )
            )
        if device.status != "active":
            raise _RefusedError(
                error_response(
                    403,
                    "device_not_active",
                    f"device {mn} is {device.status}; an operator must approve it",
                )
            )
        if device.site is None:
            raise _RefusedError(
                error_response(
                    403, "device_without_site", f"device {mn} is bound to no site in the registry"
                )
            )
        return device

    def _note_unknown(self, mn: str, peer: str | None) -> None:
        """List ``mn`` as a pending device, as the gateway does for an unknown HJ 212 MN."""
        if not re.match(MN_PATTERN, mn):
            return  # not an MN an operator could approve: refused, not listed
        try:
            self.store.note_unknown_device(mn, peer=peer, seen=datetime.now(UTC), protocol="http")
        except StoreError:  # the refusal stands; the note is not worth a 503
            log.warning("http ingest: could not list %r as pending", mn)

    def _known_parameters(self, codes: set[str]) -> set[str]:
        if not codes <= self._parameters.keys():
            self._parameters = {p.code: p.unit for p in self.store.parameters()}
        return codes - self._parameters.keys()

    def _range_problem(self, parameter: str, value: float) -> str | None:
        """Why ``value`` cannot be a reading of ``parameter`` (None: it can)."""
        unit = self._parameters.get(parameter)
        if value < 0 and cannot_be_negative(parameter, unit):
            return (
                f"{value:g} {unit} is negative: a concentration cannot be below 0 "
                "(HJ 633-2012 Table 1 starts at 0)"
            )
        ceiling = CEILINGS.get(unit or "")
        if ceiling is not None and value > ceiling:
            return f"{value:g} {unit} exceeds {ceiling:g} {unit}, the density of the medium"
        return None

    def _zone(self, site: str) -> ZoneInfo:
        if site not in self._zones:
            self._zones.update({s.code: s.tz for s in self.store.sites()})
        return ZoneInfo(self._zones.get(site, "Asia/Shanghai"))

    def check(self, device: Device, body: IngestRequest) -> list[tuple[Any, ...]]:
        """Semantic checks of a valid body; the rows to write."""
        assert device.site is not None
        forbidden = []
        problems: list[dict[str, Any]] = []
        unknown = self._known_parameters({r.parameter for r in body.readings})
        zone = self._zone(device.site)
        latest = datetime.now(UTC) + FUTURE_SLACK
        seen: dict[tuple[str, str, str, datetime], int] = {}
        rows = []
        for i, r in enumerate(body.readings):
            site = r.site or device.site
            if site != device.site:
                message = f"device {device.mn} may write only site {device.site}"
                forbidden.append(
                    {"loc": ["readings", i, "site"], "message": message, "type": "forbidden_site"}
                )
                continue
            loc: list[str | int] = ["readings", i]
            if r.parameter in unknown:
                problems.append(
                    {"loc": [*loc, "parameter"], "message": f"unknown parameter {r.parameter!r}",
                     "type": "unknown_parameter"}
                )  # fmt: skip
            elif (why := self._range_problem(r.parameter, r.value)) is not None:
                problems.append({"loc": [*loc, "value"], "message": why, "type": "value_range"})
            if (why := _misaligned(r.time, r.period, zone)) is not None:
                problems.append({"loc": [*loc, "time"], "message": why, "type": "time_alignment"})
            if r.time > latest:
                problems.append(
                    {"loc": [*loc, "time"], "message": "lies in the future", "type": "time_future"}
                )
            key = (r.parameter, r.statistic, r.period, r.time.astimezone(UTC))
            if key in seen:
                problems.append(
                    {"loc": loc, "message": f"the same reading as readings[{seen[key]}]",
                     "type": "duplicate"}
                )  # fmt: skip
            seen.setdefault(key, i)
            rows.append((site, r.parameter, r.statistic, r.period, r.time, r.value, r.flag))
        if forbidden:
            raise _RefusedError(
                error_response(403, "forbidden_site", "readings for another site", forbidden)
            )
        if problems:
            raise _RefusedError(
                error_response(422, "validation_failed", "the request is not valid", problems)
            )
        return rows

    def write(self, device: Device, rows: list[tuple[Any, ...]], peer: str | None) -> IngestResult:
        mn = device.mn
        try:
            result = self.store.write_observations(rows, source=f"http:{mn}", actor=f"device:{mn}")
        except StoreInputError as exc:
            raise _RefusedError(
                error_response(422, "validation_failed", f"the store refused the readings: {exc}")
            ) from exc
        try:
            self.store.touch_devices({mn: (datetime.now(UTC), peer)})
        except StoreError:  # a sighting is not worth failing a durable write
            log.warning("http ingest: could not record the sighting of %s", mn)
        return IngestResult(
            received=len(rows),
            inserted=result.inserted,
            unchanged=result.unchanged,
            corrected=result.corrected,
        )


def _misaligned(t: datetime, period: str, zone: ZoneInfo) -> str | None:
    """Why ``t`` cannot start a ``period`` (DESIGN §4: a value is labelled by its start)."""
    local = t.astimezone(zone)
    if period == "rt":
        return None
    if local.second or local.microsecond:
        return f"a {period} value starts on a whole minute"
    if period == "minute":
        return None
    if local.minute:
        return f"a {period} value starts on the hour"
    if period == "day" and local.hour:
        return f"a daily value starts at 00:00 of the natural day ({zone.key})"
    return None


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    too_large = error_response(
        413, "payload_too_large", f"the body exceeds {limit} bytes; send fewer readings per request"
    )
    if length is not None and length.isdigit() and int(length) > limit:
        raise _RefusedError(too_large)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _RefusedError(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> IngestRequest:
    try:
        return IngestRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            raise _RefusedError(
                error_response(400, "malformed_json", f"the body is not JSON: {errors[0]['msg']}")
            ) from exc
        raise _RefusedError(
            error_response(
                422, "validation_failed", "the request is not valid", _validation_details(errors)
            )
        ) from exc


_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed JSON"),
        (401, "Missing or wrong device credentials"),
        (403, "Device not active, or reading for another site"),
        (413, "Body too large"),
        (415, "Not application/json"),
        (422, "Invalid readings"),
        (503, "Store unavailable; retry later"),
    )
}


def create_ingest_router(store: Store, *, max_body: int = MAX_BODY_BYTES) -> APIRouter:
    """A router with ``POST /ingest`` writing to ``store`` (include it with prefix ``/api/v1``).

    The endpoint answers its own errors in the one error shape, whatever app hosts it.
    """
    state = _Ingest(store)
    router = APIRouter(tags=["ingest"])

    @router.post(
        "/ingest",
        response_model=IngestResult,
        responses=_ERRORS,  # type: ignore[arg-type]
        summary="Store readings of a station that does not speak HJ 212",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": IngestRequest.model_json_schema()}},
            },
        },
    )
    async def ingest(request: Request) -> Any:
        peer = f"{request.client.host}:{request.client.port}" if request.client else None
        try:
            mn, password = _basic_credentials(request.headers.get("authorization"))
            device = await run_in_threadpool(state.authenticate, mn, password, peer)
            ctype = request.headers.get("content-type", "")
            if ctype.split(";")[0].strip().lower() != "application/json":
                raise _RefusedError(
                    error_response(
                        415, "unsupported_media_type", "send the readings as application/json"
                    )
                )
            body = await _read_body(request, max_body)
            parsed = _parse(body)
            rows = await run_in_threadpool(state.check, device, parsed)
            result = await run_in_threadpool(state.write, device, rows, peer)
        except _RefusedError as refusal:
            return refusal.response
        except StoreError as exc:
            log.error("http ingest: store failed: %s", exc)
            return error_response(
                503, "store_unavailable", "the store is unavailable; nothing was stored, retry",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )  # fmt: skip
        except Exception:  # a bug: still answer in the one shape, and log it in full
            log.exception("http ingest: internal error")
            return error_response(500, "internal_error", "internal error; nothing was stored")
        log.info(
            "http ingest: %s from %s: %d readings, %d inserted, %d corrected",
            mn, peer, result.received, result.inserted, result.corrected,
        )  # fmt: skip
        return result

    return router


def create_ingest_app(store: Store, *, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    """A FastAPI app serving ``POST /api/v1/ingest`` for ``store`` (OpenAPI at ``/docs``)."""
    app = FastAPI(
        title="shanshui HTTP ingest",
        summary="Readings of stations that do not speak HJ 212, as JSON.",
        version="1",
    )
    install_error_handlers(app)
    app.include_router(create_ingest_router(store, max_body=max_body), prefix="/api/v1")
    return app


def ingest_server(
    store: Store, host: str = "127.0.0.1", port: int = 8213, *, max_body: int = MAX_BODY_BYTES
) -> uvicorn.Server:
    """A uvicorn server for :func:`create_ingest_app` that runs in the caller's event loop.

    ``await server.serve()`` (e.g. in an ``asyncio`` task beside the gateway) serves until
    ``server.should_exit = True``; signal handling stays with the caller. Port 0 picks a free
    port: read it from ``server.servers[0].sockets[0].getsockname()[1]`` once
    ``server.started``.
    """
    config = uvicorn.Config(
        create_ingest_app(store, max_body=max_body),
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # signals belong to the process that hosts the gateway: uvicorn must not take them
    # (0.29+: capture_signals, a context manager; earlier: install_signal_handlers)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    return server
