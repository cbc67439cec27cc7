"""Emission permits (排污许可证): enterprises, outlets, limits and permitted totals (issue 6,
item 1). The layout of permit files is in ``docs/permits.md``; the store keeps permits through
``Store.put_permit``/``permit``/``permits`` (:mod:`shanshui.store.permits`)."""

from shanshui.permits.files import LIMIT_COLUMNS, read_limits_csv, read_permit
from shanshui.permits.model import (
    OUTLET_KINDS,
    OUTLET_TYPES,
    AnnualTotal,
    Enterprise,
    Limit,
    Monitoring,
    Outlet,
    Permit,
    PermitError,
    limit_from_dict,
    permit_from_dict,
)

__all__ = [
    "LIMIT_COLUMNS",
    "OUTLET_KINDS",
    "OUTLET_TYPES",
    "AnnualTotal",
    "Enterprise",
    "Limit",
    "Monitoring",
    "Outlet",
    "Permit",
    "PermitError",
    "limit_from_dict",
    "permit_from_dict",
    "read_limits_csv",
    "read_permit",
]
