"""The checks of an HTTP ingest request that need the store: the rows it may write.

A request that parsed (:mod:`shanshui.ingest.http_models`) is checked as a whole; every
problem is listed with its ``loc``, and any problem refuses the request (all or nothing):

- a device bound to a site the store does not hold: 403 ``device_site_unknown``;
- a reading for another site than the device's: 403 ``forbidden_site``;
- an unknown parameter, a value its parameter cannot have (a negative concentration or AQI:
  :func:`~shanshui.formats.validity.cannot_be_negative`; a value beyond the parameter's
  plausibility bounds: :func:`~shanshui.formats.validity.bounds`, the rule every file
  importer applies), a time before 1970-01-01 00:00 UTC
  (:data:`~shanshui.formats.validity.EARLIEST_UTC_US`) or more than :data:`FUTURE_SLACK`
  ahead, a time that does not start its period in the site's time zone (DESIGN §4), the
  same reading twice: 422 ``validation_failed``. A time out of range is reported alone
  (checked first): its alignment and its key are not looked at, as converting it to UTC or
  to the site's zone may not even be possible (9999-12-31T23:00-12:00 is year 10000 in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shanshui.formats.validity import (
    EARLIEST_UTC_US,
    FUTURE_SLACK_S,
    bounds,
    cannot_be_negative,
    implausible_reason,
)
from shanshui.ingest.http_errors import RefusedError, error_response
from shanshui.ingest.http_models import IngestRequest
from shanshui.store.api import Device, Store

__all__ = ["FUTURE_SLACK", "ReadingChecks", "misaligned_time"]

#: How far a reading's time may lie ahead of the server clock (clock skew allowance): the
#: one number of the file readers and the gateway.
FUTURE_SLACK = timedelta(seconds=FUTURE_SLACK_S)
#: The earliest time a reading may have (the rule of every file reader).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=EARLIEST_UTC_US)

Row = tuple[str, str, str, str, datetime, float, str]
"""A row to write: site, parameter, statistic, period, time, value, flag."""


class ReadingChecks:
    """Checks requests against the store's parameters and sites (cached, refreshed when a
    request names a parameter or site the cache does not hold)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._parameters: dict[str, str] = {}  # code: unit
        self._zones: dict[str, str] = {}

    def _known_parameters(self, codes: set[str]) -> set[str]:
        """The codes of ``codes`` the store does not know."""
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
        # the plausibility bounds every importer applies (formats.validity), in the unit the
        # store registers the parameter in
        limits = bounds(parameter, unit)
        if limits is not None and not limits.low <= value <= limits.high:
            return implausible_reason("value", value, parameter, limits)
        return None

    def _zone(self, device: Device) -> ZoneInfo:
        """The time zone of the device's site; :class:`RefusedError` 403 when the store does
        not hold that site (the registry's mistake, not one the client can fix: before, the
        store refused the write and the client was answered 422)."""
        site = device.site
        assert site is not None
        if site not in self._zones:
            self._zones.update({s.code: s.tz for s in self.store.sites()})
        if site not in self._zones:
            raise RefusedError(
                error_response(
                    403, "device_site_unknown",
                    f"device {device.mn} is bound to site {site}, which the store does not "
                    "hold; an operator must fix the registry",
                )
            )  # fmt: skip
        return ZoneInfo(self._zones[site])

    def check(self, device: Device, body: IngestRequest) -> list[Row]:
        """The rows of a valid body that ``device`` may write; :class:`RefusedError` 403 or
        422 listing every problem (module docstring). Blocks (the store): run it in a worker
        thread."""
        assert device.site is not None
        forbidden = []
        problems: list[dict[str, Any]] = []
        unknown = self._known_parameters({r.parameter for r in body.readings})
        zone = self._zone(device)
        latest = datetime.now(UTC) + FUTURE_SLACK
        seen: dict[tuple[str, str, str, datetime], int] = {}
        rows: list[Row] = []
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
            # the range first: an aware datetime compares without conversion, which can
            # overflow at the ends of datetime's range (a 500 before)
            if r.time < EARLIEST:
                problems.append(
                    {"loc": [*loc, "time"],
                     "message": "is before 1970-01-01 00:00 UTC (a placeholder date?)",
                     "type": "time_too_early"}
                )  # fmt: skip
                continue
            if r.time > latest:
                problems.append(
                    {"loc": [*loc, "time"], "message": "lies in the future", "type": "time_future"}
                )
                continue
            if (why := misaligned_time(r.time, r.period, zone)) is not None:
                problems.append({"loc": [*loc, "time"], "message": why, "type": "time_alignment"})
            key = (r.parameter, r.statistic, r.period, r.time.astimezone(UTC))
            if key in seen:
                problems.append(
                    {"loc": loc, "message": f"the same reading as readings[{seen[key]}]",
                     "type": "duplicate"}
                )  # fmt: skip
            seen.setdefault(key, i)
            rows.append((site, r.parameter, r.statistic, r.period, r.time, r.value, r.flag))
        if forbidden:
            raise RefusedError(
                error_response(403, "forbidden_site", "readings for another site", forbidden)
            )
        if problems:
            raise RefusedError(
                error_response(422, "validation_failed", "the request is not valid", problems)
            )
        return rows


def misaligned_time(t: datetime, period: str, zone: ZoneInfo) -> str | None:
    """Why ``t`` cannot start a ``period`` (DESIGN §4: a value is labelled by its start);
    None if it can. The words of :func:`shanshui.formats.validity.misaligned_reason`."""
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
