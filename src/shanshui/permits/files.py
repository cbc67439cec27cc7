"""Reading permits from files: the JSON layout and the CSV limits table (``docs/permits.md``).

Bad input raises :class:`~shanshui.permits.model.PermitError` naming the file and the field
(``outlets[0].limits[1].hourly``) or the CSV line and column; nothing is read half.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

from shanshui.permits.model import (
    Limit,
    Permit,
    PermitError,
    limit_from_dict,
    permit_from_dict,
    validate,
)

__all__ = ["LIMIT_COLUMNS", "read_limits_csv", "read_permit"]

#: Columns of the CSV limits table (``outlet`` is the outlet code DA001 or its site code).
LIMIT_COLUMNS = (
    "outlet",
    "parameter",
    "unit",
    "hourly",
    "daily",
    "converted",
    "reference_o2",
    "rate_kg_h",
    "standard",
)


def read_limits_csv(path: str | Path) -> dict[str, list[Limit]]:
    """The limits of a CSV table (UTF-8, header row, columns :data:`LIMIT_COLUMNS`; only
    ``outlet``, ``parameter``, ``unit`` and one of the limits are required), by outlet."""
    source = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PermitError(f"cannot read: {exc}", source=source) from None
    unknown = [c for c in header if c not in LIMIT_COLUMNS]
    if unknown:
        raise PermitError(
            f"unknown columns {unknown}; expected {list(LIMIT_COLUMNS)}", source=source
        )
    out: dict[str, list[Limit]] = {}
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        outlet = (row.get("outlet") or "").strip()
        if not outlet:
            raise PermitError("is required", source=source, field=f"line {i}, column outlet")
        data = {k: v for k, v in row.items() if k != "outlet" and v not in (None, "")}
        try:
            lim = limit_from_dict(data, source=source)
        except PermitError as exc:
            raise PermitError(
                exc.reason, source=source, field=f"line {i}, column {exc.field}"
            ) from None
        out.setdefault(outlet, []).append(lim)
    return out


def read_permit(path: str | Path, *, limits_csv: str | Path | None = None) -> Permit:
    """The permit of a JSON file; ``limits_csv`` replaces the limits of the outlets it names."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PermitError(f"cannot read: {exc}", source=source) from None
    except json.JSONDecodeError as exc:
        raise PermitError(f"not JSON: {exc}", source=source) from None
    permit = permit_from_dict(data, source=source)
    if limits_csv is None:
        return permit
    table = read_limits_csv(limits_csv)
    outlets = list(permit.outlets)
    for key, limits in table.items():
        index = next((i for i, o in enumerate(outlets) if key in (o.code, o.site)), None)
        if index is None:
            raise PermitError(
                f"outlet {key!r} is not in the permit {permit.id}", source=str(limits_csv),
                field="outlet",
            )  # fmt: skip
        outlets[index] = replace(outlets[index], limits=tuple(limits))
    return validate(replace(permit, outlets=tuple(outlets)), source=str(limits_csv))
