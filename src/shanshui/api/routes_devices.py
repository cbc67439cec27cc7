"""Devices (HJ 212 data loggers) for operators: list, pending, one, approve, events, and
history requests (补数)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from shanshui.api.auth import Operator
from shanshui.api.common import Limit, Offset, page, store_of, writer_of
from shanshui.api.errors import ApiError
from shanshui.ingest.events import event_json
from shanshui.ingest.onboarding import NotRegisteredError, OnboardingError, approve_device
from shanshui.ingest.recalls import ranges, recall_json
from shanshui.store import Device, StoreInputError
from shanshui.store.recalls import RECALL_STATUSES, Recall

router = APIRouter(tags=["devices (operator)"])

Status = Annotated[
    str | None, Query(pattern="^(active|pending|disabled)$", description="device status")
]


def device_view(device: Device) -> dict[str, Any]:
    """A device as JSON, without its password hash (never shown outside the store)."""
    row = dataclasses.asdict(device)
    row.pop("password_hash", None)
    row["password_set"] = device.password_hash is not None
    out: dict[str, Any] = jsonable_encoder(row)
    return out


@router.get("/devices")
def devices(
    request: Request, role: Operator, limit: Limit = 100, offset: Offset = 0, status: Status = None
) -> dict[str, Any]:
    """Known devices, by MN (operator role)."""
    with store_of(request) as store:
        found = store.devices(status=status)
    return page([device_view(d) for d in found], limit, offset)


@router.get("/devices/pending")
def pending(
    request: Request, role: Operator, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Devices that logged in unknown and wait for an operator's decision (operator role)."""
    with store_of(request) as store:
        found = store.pending_devices()
    return page([device_view(d) for d in found], limit, offset)


@router.get("/devices/{mn}")
def device(request: Request, role: Operator, mn: str) -> dict[str, Any]:
    """One device by MN (operator role)."""
    with store_of(request) as store:
        found = store.device(mn)
    if found is None:
        raise ApiError(404, "not_found", f"no device {mn!r}")
    return device_view(found)


#: The most events one request returns (the store's bound is higher).
MAX_EVENT_LIMIT = 1000
EventKind = Annotated[
    str | None,
    Query(
        pattern="^(state|runtime|restart|info|alarm|clock)$",
        description="only this kind: state (CN 2021), runtime (2041), restart (2081), "
        "info (3015/3019/3020), alarm (2072), clock (1013)",
    ),
]


@router.get("/devices/{mn}/events")
def device_events(
    request: Request,
    mn: str,
    *,
    role: Operator,
    since: Annotated[
        dt.datetime | None, Query(description="events at or after this time (with zone)")
    ] = None,
    kind: EventKind = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENT_LIMIT, description="most events")] = 100,
) -> dict[str, Any]:
    """What a device said that is not data, newest first (operator role): equipment running
    states, run times, restarts, site and instrument information, alarm events and clock
    requests (HJ 212-2017 Table C.1; HJ/T 212-2005 2072), each with its CP fields as sent and
    ``states`` decoding ``SBn-RS`` codes where their meaning is known (else ``meaning`` null).
    Times are UTC (ISO 8601); ``time`` is the event's own (RestartTime, AlarmTime or
    DataTime, Beijing time in the frame)."""
    if since is not None and since.utcoffset() is None:
        raise ApiError(422, "validation_failed", "since needs a time zone (e.g. +08:00 or Z)")
    with store_of(request) as store:
        if store.device(mn) is None:
            raise ApiError(404, "not_found", f"no device {mn!r}")
        found = store.device_events(mn, since=since, kind=kind, limit=limit)
    return {
        "mn": mn,
        "time_convention": "times in UTC; time is the event's own (RestartTime, AlarmTime "
        "or DataTime as the device gave it in Beijing time)",
        "limit": limit,
        "count": len(found),
        "items": [event_json(e) for e in found],
    }


class Approval(BaseModel):
    """What an operator decides when approving a device."""

    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(
        None, min_length=1, max_length=64, description="site the device reports for"
    )
    password: str | None = Field(
        None, min_length=1, max_length=64, description="the device's HJ 212 PW (kept hashed)"
    )
    reason: str = Field(min_length=1, max_length=500, description="why (audit log)")


@router.post("/devices/{mn}/approve")
async def approve(request: Request, role: Operator, mn: str, body: Approval) -> dict[str, Any]:
    """Approve a device (operator role, audited): make it active, bound to ``site``, with
    ``password`` (HJ 212-2017 §6.3: the PW field the logger sends). A device without a site
    or password in the store needs them here; the gateway admits it within its device
    refresh interval. A device approved from pending is asked for the hourly data it sent
    while unregistered (HJ 212-2017 CN 2061 with BeginTime/EndTime, from an hour before it
    was first seen; :func:`shanshui.ingest.recalls.on_approval`) when it next sends; the rules
    are :func:`shanshui.ingest.onboarding.approve_device`, as for ``shanshui devices
    approve``."""
    actor: str = getattr(request.state, "actor", "apikey:unknown")

    def change() -> Device:
        with writer_of(request) as store:
            return approve_device(
                store, mn, site=body.site, password=body.password, actor=actor,
                reason=body.reason, now=dt.datetime.now(dt.UTC),
            )  # fmt: skip

    try:
        done = await run_in_threadpool(change)
    except NotRegisteredError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except OnboardingError as exc:
        details = [{"loc": [field], "message": message} for field, message in exc.problems]
        raise ApiError(422, "validation_failed", str(exc), details) from None
    return device_view(done)


class RecallView(BaseModel):
    """A history request (补数) and how far the device took it (times UTC, ISO 8601).

    ``status`` (derived in one place, :func:`shanshui.store.recalls.recall_status`, from
    the device's answers, HJ 212-2017 §6.5): ``waiting`` not sent yet or to be sent again;
    ``sent`` no 9011 yet; ``accepted`` 9011 QnRtn=1; ``refused`` 9011 QnRtn≠1; ``done`` 9012
    ExeRtn=1; ``no data`` 9012 ExeRtn=100; ``failed`` other ExeRtn; ``unanswered`` no 9011
    after the last attempt (the gateway gave up). ``code`` and ``meaning``: the QnRtn
    (HJ 212-2017 Table 7) or ExeRtn (Table 8) that decided it.
    """

    mn: str = Field(description="the device's MN")
    cn: str = Field(description="2061 hourly, 2051 minute, 2031 daily data (HJ 212-2017 C.1)")
    begin: str = Field(description="ISO 8601 UTC: first data time asked for")
    end: str = Field(description="ISO 8601 UTC: last data time asked for")
    requested: str = Field(description="ISO 8601 UTC: when it was asked for")
    actor: str = Field(description="who asked")
    reason: str = Field(description="why (audit log)")
    status: str = Field(description="; ".join(f"{k}: {v}" for k, v in RECALL_STATUSES.items()))
    state: str = Field(description="deprecated: the same as status")
    code: int | None = Field(description="the QnRtn or ExeRtn that decided the status")
    meaning: str | None = Field(description="that code's meaning (HJ 212-2017 Tables 7, 8)")
    sent: str | None = Field(description="ISO 8601 UTC: when a gateway last sent it")
    qn: str | None = Field(description="the QN of the last attempt (its answers carry it)")
    attempts: int = Field(description="how many times it was sent")
    answered: str | None = Field(description="ISO 8601 UTC: when the 9011 request answer came")
    qn_rtn: int | None = Field(description="its QnRtn (HJ 212-2017 Table 7)")
    qn_rtn_meaning: str | None = Field(description="what that QnRtn means")
    executed: str | None = Field(description="ISO 8601 UTC: when the 9012 execution result came")
    exe_rtn: int | None = Field(description="its ExeRtn (HJ 212-2017 Table 8)")
    exe_rtn_meaning: str | None = Field(description="what that ExeRtn means")
    gave_up: str | None = Field(description="ISO 8601 UTC: when the gateway stopped asking")


class RecallList(BaseModel):
    """A device's history requests."""

    mn: str
    count: int
    items: list[RecallView]


def recall_view(recall: Recall) -> dict[str, Any]:
    """A history request as JSON (:class:`RecallView`; times UTC, ISO 8601)."""
    out = recall_json(recall)
    out["state"] = out["status"]  # the name this field had before the answers were followed
    return out


class RecallRequest(BaseModel):
    """A range of a device's history to ask it for."""

    model_config = ConfigDict(extra="forbid")

    cn: str = Field(
        "2061", pattern="^(2031|2051|2061)$",
        description="2061 hourly, 2051 minute, 2031 daily data (HJ 212-2017 Table C.1)",
    )  # fmt: skip
    begin: dt.datetime = Field(description="first data time asked for (with zone)")
    end: dt.datetime = Field(description="last data time asked for (with zone)")
    reason: str = Field(min_length=1, max_length=500, description="why (audit log)")


@router.post("/devices/{mn}/recalls", status_code=202, response_model=RecallList)
def request_recall(
    request: Request, role: Operator, mn: str, body: RecallRequest
) -> dict[str, Any]:
    """Ask a device for a range of its history (operator role, audited): the request waits
    until the device sends on a connection, a gateway sends it there (HJ 212-2017: the
    device answers 9011, uploads the data, ends with 9012), and the uploads are stored like
    any data (a value stored already stays once). A range longer than 31 days is asked for
    in consecutive requests."""
    if body.begin.utcoffset() is None or body.end.utcoffset() is None:
        raise ApiError(422, "validation_failed", "begin and end need a time zone (e.g. +08:00)")
    actor: str = getattr(request.state, "actor", "apikey:unknown")
    with writer_of(request) as store:
        if store.device(mn) is None:
            raise ApiError(404, "not_found", f"no device {mn!r}")
        try:
            queued = ranges(
                mn, body.cn, body.begin, body.end, actor=actor, reason=body.reason,
                requested=dt.datetime.now(dt.UTC),
            )  # fmt: skip
        except StoreInputError as exc:
            raise ApiError(422, "validation_failed", str(exc)) from None
        store.request_recalls(queued)
    return {"mn": mn, "count": len(queued), "items": [recall_view(r) for r in queued]}


@router.get("/devices/{mn}/recalls", response_model=RecallList)
def device_recalls(
    request: Request,
    mn: str,
    *,
    role: Operator,
    limit: Annotated[int, Query(ge=1, le=1000, description="most requests")] = 100,
) -> dict[str, Any]:
    """A device's history requests, newest first, with their status (see
    :class:`RecallView`), attempts and the device's answer codes (operator role)."""
    with store_of(request) as store:
        if store.device(mn) is None:
            raise ApiError(404, "not_found", f"no device {mn!r}")
        found = store.device_recalls(mn, limit=limit)
    return {"mn": mn, "count": len(found), "items": [recall_view(r) for r in found]}
