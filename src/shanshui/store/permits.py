"""Permits in the store (migration 0003) behind :class:`PermitStore`, a mixin of
:class:`~shanshui.store.sqlstore.SQLStore`.

The permit's document (the JSON layout of ``docs/permits.md``) is kept whole in ``permit``;
``permit_enterprise``, ``permit_outlet``, ``permit_limit`` and ``permit_total`` index it and
are rewritten with it in the same transaction. Every change is audited (entity ``permit``, key
the permit id, old and new documents; a limit edit: entity ``permit_limit``, key
``<permit>/<outlet code>/<parameter>``, old and new limit).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shanshui.permits.model import Enterprise, Limit, Permit, PermitError, permit_from_dict
from shanshui.store.api import StoreInputError

if TYPE_CHECKING:
    from shanshui.store.sqlstore import SQLStore

__all__ = ["PermitStore"]


def _document(value: Any) -> Permit:
    data = json.loads(value) if isinstance(value, str) else value
    return permit_from_dict(data, source="store", strict=False)


def _limit_view(lim: Limit | None) -> dict[str, Any] | None:
    if lim is None:
        return None
    return {k: getattr(lim, k) for k in Limit.__dataclass_fields__}


class PermitStore:
    """The permit operations of :class:`~shanshui.store.Store` over SQL."""

    def _permit_rows(self: SQLStore, permit: Permit, now: datetime) -> None:
        """Write ``permit`` and its index rows (inside a session); outlet sites are created as
        ``Site(kind="outlet")`` where missing, and must be outlets where present."""
        codes = [o.site for o in permit.outlets]
        kinds = dict(self._fetch("permit_site_kinds", {"codes": codes}))
        wrong = sorted(c for c, k in kinds.items() if k != "outlet")
        if wrong:
            raise StoreInputError(f"permit {permit.id}: sites {wrong} exist and are not outlets")
        # an outlet is one enterprise's at a time: a second enterprise's permit naming it for
        # the same days took its alarms and limits, and counted its emissions in both
        # totals (review 22, finding 4)
        mine = {
            "codes": codes, "enterprise": permit.enterprise.id, "permit": permit.id,
            "valid_from": permit.valid_from, "valid_to": permit.valid_to,
        }  # fmt: skip
        owners = self._fetch("permit_site_owners", mine)
        if owners:
            held = ", ".join(f"{site} ({enterprise})" for site, enterprise in owners)
            raise StoreInputError(
                f"permit {permit.id}: outlets another enterprise's permit holds in the same "
                f"period: {held}"
            )
        missing = [o for o in permit.outlets if o.site not in kinds]
        if missing:
            self._load(
                "stage_sites",
                [
                    {"code": o.site, "name": o.name, "kind": "outlet",
                     "region": permit.enterprise.region, "lon": None, "lat": None,
                     "role": "assessment", "tz": "Asia/Shanghai",
                     "attributes": json.dumps({"enterprise": permit.enterprise.id,
                                               "outlet": o.code}, ensure_ascii=False)}
                    for o in missing
                ],
            )  # fmt: skip
            self._exec("site_upsert", {"updated": now})
        e = permit.enterprise
        self._exec(
            "permit_enterprise_upsert",
            {"id": e.id, "name": e.name, "region": e.region, "industry": e.industry,
             "address": e.address, "updated": now},
        )  # fmt: skip
        self._exec(
            "permit_upsert",
            {"id": permit.id, "enterprise": e.id, "valid_from": permit.valid_from,
             "valid_to": permit.valid_to, "synthetic": permit.synthetic,
             "document": json.dumps(permit.to_dict(), ensure_ascii=False, sort_keys=True),
             "updated": now},
        )  # fmt: skip
        for name in ("permit_outlet_delete", "permit_limit_delete", "permit_total_delete"):
            self._exec(name, {"id": permit.id})
        for o in permit.outlets:
            self._exec(
                "permit_outlet_insert",
                {"site": o.site, "permit": permit.id, "enterprise": e.id, "code": o.code,
                 "name": o.name, "type": o.type, "kind": o.kind, "mn": o.mn,
                 "reporting_interval_s": o.reporting_interval_s},
            )  # fmt: skip
            for lim in o.limits:
                self._exec(
                    "permit_limit_insert",
                    {"site": o.site, "permit": permit.id, **_limit_view(lim)},  # type: ignore[dict-item]
                )
        for t in permit.totals:
            self._exec(
                "permit_total_insert",
                {"enterprise": e.id, "parameter": t.parameter, "year": t.year,
                 "permit": permit.id, "tonnes": t.tonnes},
            )  # fmt: skip

    def put_permit(
        self: SQLStore, permit: Permit, *, actor: str, reason: str | None = None
    ) -> bool:
        """Insert or replace a permit (by id) with its enterprise; audited. False when the
        stored permit is the same (nothing written)."""
        now = datetime.now(UTC)
        with self._session():
            rows = self._fetch("permit_document", {"id": permit.id})
            old = _document(rows[0][0]) if rows else None
            if old == permit:
                return False
            self._permit_rows(permit, now)
            self._insert_audit(
                changed=now, actor=actor, action="import" if old is None else "replace",
                entity="permit", site=None, key=permit.id,
                old=None if old is None else old.to_dict(), new=permit.to_dict(),
                reason=reason,
            )  # fmt: skip
        return True

    def permit(self: SQLStore, permit_id: str) -> Permit | None:
        """The permit ``permit_id``, or None."""
        with self._session(write=False):
            rows = self._fetch("permit_document", {"id": permit_id})
        return _document(rows[0][0]) if rows else None

    def permits(self: SQLStore, *, enterprise: str | None = None) -> list[Permit]:
        """All permits (of one enterprise), by id."""
        with self._session(write=False):
            rows = self._fetch("permit_documents", {"enterprise": enterprise})
        return [_document(r[0]) for r in rows]

    def enterprises(self: SQLStore, *, region: str | None = None) -> list[Enterprise]:
        """Permit holders by id; ``region`` includes the regions below it (GB/T 2260 code
        prefix: ``130000`` Hebei holds ``130100`` Shijiazhuang and its counties)."""
        with self._session(write=False):
            rows = self._fetch("permit_enterprises", {"id": None})
        found = [Enterprise(*r) for r in rows]
        if region is None:
            return found
        prefix = region
        while len(prefix) > 2 and prefix.endswith("00"):
            prefix = prefix[:-2]
        return [e for e in found if (e.region or "").startswith(prefix)]

    def set_permit_limit(
        self: SQLStore,
        permit_id: str,
        outlet: str,
        limit: Limit,
        *,
        actor: str,
        reason: str | None = None,
    ) -> Permit:
        """Set (replace or add) one limit of ``outlet`` (code or site) in a permit; audited
        with the old and new limit. Unknown permit or outlet: StoreInputError."""
        now = datetime.now(UTC)
        with self._session():
            rows = self._fetch("permit_document", {"id": permit_id})
            if not rows:
                raise StoreInputError(f"no permit {permit_id!r}")
            old = _document(rows[0][0])
            found = old.outlet(outlet)
            if found is None:
                raise StoreInputError(f"permit {permit_id} has no outlet {outlet!r}")
            try:
                new = old.with_limit(outlet, limit)
            except PermitError as exc:
                raise StoreInputError(str(exc)) from None
            before = found.limit(limit.parameter)
            if before == limit:
                return old
            self._permit_rows(new, now)
            self._insert_audit(
                changed=now, actor=actor, action="set_limit", entity="permit_limit",
                site=found.site, key=f"{permit_id}/{found.code}/{limit.parameter}",
                old=_limit_view(before), new=_limit_view(limit), reason=reason,
            )  # fmt: skip
        return new
