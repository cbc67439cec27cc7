"""The body of ``POST /api/v1/ingest`` and its answer, as pydantic models; parsing a body.

The field rules (types, finite values, HJ 212-2017 flags, the store's statistics and
periods) are checked here, request by request, before anything touches the store; the
checks that need the store (known parameters, plausible values, the site's time zone) are in
:mod:`shanshui.ingest.http_checks`.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic_core
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from shanshui.hj212.codes import DATA_FLAGS
from shanshui.ingest.http_errors import (
    MAX_DETAILS,
    RefusedError,
    error_response,
    validation_details,
)
from shanshui.store.api import PERIODS, STATISTICS

__all__ = [
    "MAX_READINGS",
    "IngestRequest",
    "IngestResult",
    "Reading",
    "parse_body",
    "request_schema",
]

#: Most readings in one request (a day of 10 parameters at minute resolution is 14,400).
MAX_READINGS = 20_000

_FLAG = r"^[A-Za-z0-9]{1,2}$"  # then _flag: one of HJ 212-2017 Table 6
#: How an ISO 8601 date-time begins (then pydantic parses it, with its offset). CHOICE: the
#: ``T`` may also be a space or ``t`` (RFC 3339 §5.6 allows them; pydantic parses them).
_ISO_DATETIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")


class Reading(BaseModel):
    """One reading in an ingest request."""

    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(None, min_length=1, max_length=64, description="Site code.")
    parameter: str = Field(min_length=1, max_length=64, description="Parameter code (PM2.5).")
    time: AwareDatetime = Field(description="Start of the period, ISO 8601 with offset.")
    value: float = Field(strict=True, allow_inf_nan=False, description="In the parameter's unit.")
    # the closed sets are listed as enums in the OpenAPI document (the validators check them)
    flag: str = Field(
        "N", pattern=_FLAG, description="HJ 212 data flag (N = normal).",
        json_schema_extra={"enum": list(DATA_FLAGS)},
    )  # fmt: skip
    statistic: str = Field(
        "avg", description="avg, rtd, min, max, cou, zs… (HJ 212 suffix).",
        json_schema_extra={"enum": sorted(STATISTICS)},
    )  # fmt: skip
    period: str = Field(
        "hour", description="rt, minute, hour or day.", json_schema_extra={"enum": sorted(PERIODS)}
    )

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, v: object) -> object:
        # only an ISO 8601 string: pydantic would also take a number, or a string of digits,
        # as Unix seconds, and "time": 0 (a logger's unset clock) became 1970-01-01
        if not isinstance(v, str) or not _ISO_DATETIME.match(v):
            raise PydanticCustomError(
                "datetime_type",
                "must be an ISO 8601 date-time string with offset (2025-01-04T05:00:00+08:00)",
            )
        return v

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


def request_schema() -> dict[str, Any]:
    """The JSON schema of :class:`IngestRequest` with its definitions inlined, for an OpenAPI
    operation: pydantic's ``$ref: #/$defs/Reading`` points at the schema's root, which the
    OpenAPI document does not have (it could not be resolved; schemathesis saw no body)."""
    schema = IngestRequest.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


class IngestResult(BaseModel):
    """What one request did."""

    received: int
    inserted: int
    unchanged: int
    corrected: int


class _Envelope(BaseModel):
    """:class:`IngestRequest` with its readings not yet checked (the same rules for the
    envelope: keep the two ``readings`` fields alike)."""

    model_config = ConfigDict(extra="forbid")

    readings: list[Any] = Field(min_length=1, max_length=MAX_READINGS)


def parse_body(body: bytes) -> IngestRequest:
    """The request in ``body``; :class:`RefusedError` 400 if it is not JSON, 422 if it is
    not a valid request (its first :data:`~shanshui.ingest.http_errors.MAX_DETAILS`
    problems, each with its ``loc``, and how many there were in all).

    Blocks for up to a second on a large body: run it in a worker thread. The readings are
    checked one by one (CHOICE), not in one pydantic call: such a call holds the GIL, and
    with it the event loop, until it is done, and lists every problem (19,999 readings with
    25 unknown keys each: 559,972 of them, seconds to build); one by one, the loop runs
    between readings and the problems past the first ones are only counted. The envelope
    (readings a list of 1 to :data:`MAX_READINGS`, no other key) is checked first; when it
    is wrong its problems alone are reported.
    """
    try:
        # pydantic's own JSON parser, as model_validate_json (NaN and Infinity are not JSON)
        data = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise RefusedError(
            error_response(400, "malformed_json", f"the body is not JSON: {exc}")
        ) from exc
    if not isinstance(data, dict):  # (pydantic's words would name _Envelope)
        message = 'the body must be a JSON object {"readings": [...]}'
        raise _invalid([{"loc": [], "message": message, "type": "model_type"}], 1)
    try:
        envelope = _Envelope.model_validate(data)
    except ValidationError as exc:
        raise _invalid(validation_details(exc.errors()), exc.error_count()) from exc
    readings: list[Reading] = []
    details: list[dict[str, Any]] = []
    total = 0
    for i, item in enumerate(envelope.readings):
        try:
            readings.append(Reading.model_validate(item))
        except ValidationError as exc:
            total += exc.error_count()
            if len(details) < MAX_DETAILS:
                details += validation_details(exc.errors(), prefix=("readings", i))
    if total:
        raise _invalid(details, total)
    return IngestRequest.model_construct(readings=readings)


def _invalid(details: list[dict[str, Any]], total: int) -> RefusedError:
    return RefusedError(
        error_response(422, "validation_failed", "the request is not valid", details, total=total)
    )
