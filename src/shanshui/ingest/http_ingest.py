"""HTTP JSON ingest for stations that do not speak HJ 212: ``POST /api/v1/ingest``.

Request (``Content-Type: application/json``, at most :data:`MAX_BODY_BYTES`)::

    {"readings": [{"site": "1001A", "parameter": "PM2.5",
                   "time": "2025-01-04T05:00:00+08:00", "value": 35.0,
                   "flag": "N", "statistic": "avg", "period": "hour"}, …]}

- ``time``: an ISO 8601 string **with** offset (a number, or a string of digits, is not
  taken for Unix seconds but refused); it labels the start of the period (DESIGN §4), so an
  hourly value must be on the hour and a daily one at 00:00 of the site's natural day, in
  the site's time zone; not before 1970-01-01 00:00 UTC (a placeholder date: the rule of
  every file reader, :data:`shanshui.formats.validity.EARLIEST_UTC_US`) and at most
  :data:`FUTURE_SLACK` ahead of the server's clock.
- ``value``: a finite JSON number in the parameter's unit as the store registers it (µg/m³,
  CO mg/m³ for the air pollutants, GB 3095-2012 Table 1); strings are refused. A
  concentration (a parameter in a mass-concentration unit, and the AQI) cannot be negative
  (HJ 633-2012 Table 1's breakpoints start at 0; the rule of the file importers,
  :func:`shanshui.formats.validity.cannot_be_negative`); meteorology (TEMP, DEWP …) may be.
  No value may lie beyond its parameter's plausibility bounds, the ones every file importer
  applies (:func:`shanshui.formats.validity.bounds`: a pollutant's ceiling is 20 × its
  highest HJ 633-2012 Table 1 concentration, the AQI's 500, meteorology's the extremes on
  record; other concentrations the density of their medium).
- ``flag``: an HJ 212-2017 data flag (§6.6, Table 6: ``N F M S D C T B``, upper case; default
  ``N``); ``statistic`` one of the store's (``avg`` default), ``period`` one of ``rt minute
  hour day`` (``hour`` default).
- ``site``: optional; a device may only write its own site (the one the registry binds it to).

Authentication: HTTP Basic with the **device MN as user name and the device password** from
the store's device registry (the same credentials an HJ 212 data logger uses). Only
``active`` devices bound to a site may write. A wrong password is counted on the device
(:meth:`Store.count_refused_login`) and logged with the peer address. An unknown MN is
refused (401, nothing stored) and, as the gateway does, listed as a pending device
(:meth:`Store.note_unknown_device`, protocol ``http``; one MN at most once an hour, at most
100 MNs an hour: :class:`~shanshui.ingest.http_auth.UnknownNotes`) so that an operator can
approve it (``POST /api/v1/devices/{mn}/approve`` or ``shanshui devices approve MN --site …
--password …``), or register it beforehand (``shanshui devices add MN --protocol http``); an
MN that is not 1–64 letters, digits, ``_`` or ``-``
(:data:`~shanshui.ingest.onboarding.MN_PATTERN`) is refused without being listed. Use HTTPS
in front of it (a reverse proxy): Basic sends the password in clear.

All or nothing: the readings of one request are checked together and written in one store
transaction; any error changes nothing. Idempotent: a reading already stored with the same
value and flag counts as ``unchanged``; a changed one replaces it, is audited (actor
``device:<MN>``) and counts as ``corrected``.

Responses: ``200 {"received", "inserted", "unchanged", "corrected"}``; every error has the one
shape ``{"error": {"code", "message", "details": [...]}}``; ``details`` lists at most the
first :data:`~shanshui.ingest.http_errors.MAX_DETAILS` problems, and ``details_total`` (only
then present) says how many there were in all:

====== ========================= ===================================================
status code                      when
====== ========================= ===================================================
400    ``malformed_json``        the body is not JSON
401    ``unauthorized``          no/garbled Basic credentials, unknown MN, wrong password
403    ``device_not_active``     the device is pending or disabled
403    ``device_without_site``   the registry binds the device to no site
403    ``device_site_unknown``   the registry binds the device to a site the store lacks
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

This module holds the route, the app and the server; the parts live beside it and their
public names are importable from here too: the request models (:mod:`.http_models`), the
error shape (:mod:`.http_errors`), the device's credentials (:mod:`.http_auth`) and the
checks that need the store (:mod:`.http_checks`).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from shanshui.errors import StoreError
from shanshui.ingest.http_auth import UnknownNotes, authenticate, basic_credentials
from shanshui.ingest.http_checks import FUTURE_SLACK, ReadingChecks, Row
from shanshui.ingest.http_errors import (
    DEVICE_BASIC,
    ErrorBody,
    ErrorDetail,
    ErrorInfo,
    RefusedError,
    error_response,
    install_error_handlers,
)
from shanshui.ingest.http_models import (
    MAX_READINGS,
    IngestRequest,
    IngestResult,
    Reading,
    parse_body,
    request_schema,
)
from shanshui.store.api import Device, Store, StoreInputError

__all__ = [
    "FUTURE_SLACK",
    "MAX_BODY_BYTES",
    "MAX_READINGS",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
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
#: Seconds a client should wait after a 503.
RETRY_AFTER_S = 5


def _write(store: Store, device: Device, rows: list[Row], peer: str | None) -> IngestResult:
    """Write the checked rows in one store transaction (all or nothing) and note the
    device's sighting. Blocks (the store): run it in a worker thread."""
    mn = device.mn
    try:
        result = store.write_observations(rows, source=f"http:{mn}", actor=f"device:{mn}")
    except StoreInputError as exc:
        raise RefusedError(
            error_response(422, "validation_failed", f"the store refused the readings: {exc}")
        ) from exc
    try:
        store.touch_devices({mn: (datetime.now(UTC), peer)})
    except StoreError:  # a sighting is not worth failing a durable write
        log.warning("http ingest: could not record the sighting of %s", mn)
    return IngestResult(
        received=len(rows),
        inserted=result.inserted,
        unchanged=result.unchanged,
        corrected=result.corrected,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    too_large = error_response(
        413, "payload_too_large", f"the body exceeds {limit} bytes; send fewer readings per request"
    )
    if length is not None and length.isdigit() and int(length) > limit:
        raise RefusedError(too_large)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RefusedError(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed JSON"),
        (401, "Missing or wrong device credentials"),
        (403, "Device not active or without a known site, or reading for another site"),
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
    checks = ReadingChecks(store)
    notes = UnknownNotes()
    router = APIRouter(tags=["ingest"])

    @router.post(
        "/ingest",
        response_model=IngestResult,
        responses=_ERRORS,  # type: ignore[arg-type]
        summary="Store readings of a station that does not speak HJ 212",
        openapi_extra={
            "security": [{DEVICE_BASIC: []}],  # read by basic_credentials (one error shape)
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema()}},
            },
        },
    )
    async def ingest(request: Request) -> Any:
        peer = f"{request.client.host}:{request.client.port}" if request.client else None
        try:
            mn, password = basic_credentials(request.headers.get("authorization"))
            device = await run_in_threadpool(authenticate, store, mn, password, peer, notes)
            ctype = request.headers.get("content-type", "")
            if ctype.split(";")[0].strip().lower() != "application/json":
                raise RefusedError(
                    error_response(
                        415, "unsupported_media_type", "send the readings as application/json"
                    )
                )
            body = await _read_body(request, max_body)
            parsed = await run_in_threadpool(parse_body, body)
            rows = await run_in_threadpool(checks.check, device, parsed)
            result = await run_in_threadpool(_write, store, device, rows, peer)
        except RefusedError as refusal:
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
