"""Alarms (issue 6, item 3): public reading, operator handling.

- ``GET /alarms`` — filters ``state`` (open / acknowledged / closed, repeatable), ``site``,
  ``rule`` or its alias ``kind`` (exceedance / daily_exceedance / rate_exceedance / offline /
  flag / annual_total),
  ``enterprise``, ``since`` (opened at or after, ISO time with zone); newest first, paginated;
- ``GET /alarms/{id}``;
- ``POST /alarms/{id}/acknowledge`` ``{"note"}`` and ``POST /alarms/{id}/close`` ``{"note"}``
  (operator role): who and when are recorded in the alarm and in the audit log.

The alarm model (fields, when an alarm opens and closes, its hour labels) is written down in
:mod:`shanshui.rules`; times are ISO 8601 in UTC, hours labelled by their start.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from shanshui.api.auth import require
from shanshui.api.common import Limit, Offset, page, store_of, writer_of
from shanshui.api.errors import ApiError
from shanshui.store.alarms import Alarm

router = APIRouter(tags=["alarms"])

Operator = Annotated[str, Depends(require("operator"))]
State = Literal["open", "acknowledged", "closed"]
Rule = Literal[
    "exceedance", "daily_exceedance", "rate_exceedance", "offline", "flag", "annual_total"
]


def alarm_view(a: Alarm) -> dict[str, Any]:
    return a.to_dict()


@router.get("/alarms")
def alarms(
    request: Request,
    *,
    limit: Limit = 100,
    offset: Offset = 0,
    state: Annotated[list[State] | None, Query(description="repeatable")] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[Rule | None, Query(description="the rule (the alarm's kind)")] = None,
    kind: Annotated[Rule | None, Query(description="the same as rule")] = None,
    enterprise: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        dt.datetime | None, Query(description="opened at or after (with zone)")
    ] = None,
) -> dict[str, Any]:
    """Alarms, newest first (see :mod:`shanshui.rules` for the model)."""
    if rule is not None and kind is not None and rule != kind:
        raise ApiError(422, "validation_failed", "rule and kind differ")
    rule = rule or kind
    if since is not None and since.utcoffset() is None:
        raise ApiError(422, "validation_failed", "since needs a time zone (e.g. +08:00 or Z)")
    with store_of(request) as store:
        found = store.alarms(state=state, site=site, rule=rule, enterprise=enterprise, since=since)
    return page([alarm_view(a) for a in found], limit, offset)


@router.get("/alarms/{alarm_id}")
def alarm(request: Request, alarm_id: int) -> dict[str, Any]:
    """One alarm."""
    with store_of(request) as store:
        found = store.alarm(alarm_id)
    if found is None:
        raise ApiError(404, "not_found", f"no alarm {alarm_id}")
    return alarm_view(found)


class Note(BaseModel):
    """What the operator says (kept in the alarm and the audit log)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=1000)


def _handle(request: Request, alarm_id: int, note: str | None, *, close: bool) -> dict[str, Any]:
    actor: str = getattr(request.state, "actor", "apikey:unknown")
    with writer_of(request) as store:
        found = store.alarm(alarm_id)
        if found is None:
            raise ApiError(404, "not_found", f"no alarm {alarm_id}")
        if found.state == "closed" or (not close and found.state != "open"):
            raise ApiError(409, "conflict", f"alarm {alarm_id} is {found.state}")
        if close:
            done = store.close_alarm(alarm_id, actor=actor, note=note)
        else:
            done = store.acknowledge_alarm(alarm_id, actor=actor, note=note)
    return alarm_view(done)


@router.post("/alarms/{alarm_id}/acknowledge")
async def acknowledge(
    request: Request, role: Operator, alarm_id: int, body: Note | None = None
) -> dict[str, Any]:
    """Acknowledge an open alarm (operator role): who, when and the note are kept."""
    note = body.note if body else None
    return await run_in_threadpool(_handle, request, alarm_id, note, close=False)


@router.post("/alarms/{alarm_id}/close")
async def close(
    request: Request, role: Operator, alarm_id: int, body: Note | None = None
) -> dict[str, Any]:
    """Close an alarm by hand (operator role): who, when and the note are kept; the engine
    does not reopen it while its condition lasts."""
    note = body.note if body else None
    return await run_in_threadpool(_handle, request, alarm_id, note, close=True)
