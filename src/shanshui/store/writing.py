"""The write path of readings: :meth:`Store.write_observations` over SQL, by integer keys.

Per batch: check it (:func:`shanshui.store.batch.checked`, Arrow kernels), map the site and
parameter codes to their ids (:func:`shanshui.store.codes.encode`: a hash pass over the rows,
a lookup of the few distinct codes), drop repeated keys on the ids, stage the batch, insert
the new keys (``obs_insert``), audit and apply corrections (``obs_corrections``,
``obs_update``; also the readings a later row of the same batch replaced:
:func:`in_batch_corrections`), mark the natural days of new hourly means (``dirty_mark``)
and the sites for the rules job (``rules_mark``, migration 0005), and the device events
given with the batch (:mod:`shanshui.store.events`, migration 0007), in one transaction.
:class:`ObservationWriter` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.store import batch as _batch
from shanshui.store.api import DeviceEvent, ObservationBatch, WriteResult
from shanshui.store.codes import encode
from shanshui.store.mixin import SQLParts
from shanshui.store.stages import OBS_STAGE

__all__ = [
    "BACKFILL_AGE",
    "IN_BATCH_REASON",
    "STORED_REASON",
    "ObservationWriter",
    "in_batch_corrections",
]

#: A write whose oldest reading is older than this is noted as a back-fill for the rules job
#: (``rules_backfill``, migration 0006): younger data lie inside any rules job's look-back
#: window (``RulesJob(lookback=…)``, 2 days by default; keep it at least this).
BACKFILL_AGE = timedelta(days=1)


#: Audit reasons: a reading that replaced the stored one; one that replaced an earlier
#: reading of the same key in the same batch (:func:`in_batch_corrections`).
STORED_REASON = "a later reading replaced the stored one"
IN_BATCH_REASON = "a later reading replaced an earlier one of the same batch"


def in_batch_corrections(staged: pa.Table) -> list[tuple[Any, ...]]:
    """The replacements inside one batch of :data:`~shanshui.store.stages.OBS_STAGE` rows,
    repeated keys still in it, as ``obs_corrections`` rows (site_id, parameter_id,
    statistic, period, time, old value, old flag, new value, new flag).

    DESIGN §4: a later reading of a key replaces the earlier one and the correction is
    audited. Rows of one key are taken in batch order and each one whose value or flag
    differs from the row before it is a replacement of that row (choice: the chain, not
    each superseded row against the last one, so that the log is the one the same readings
    would leave if each came in a batch of its own; same comparison as ``obs_corrections``:
    values by ``<>``, flags by ``is distinct from``). The stored reading is compared with
    the batch's last row by ``obs_corrections``, as before. Vectorised; Python per
    replacement found only.
    """
    key = OBS_STAGE.names[:5]
    n = staged.num_rows
    if n < 2:
        return []
    rows = staged.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
    order = pc.sort_indices(rows, sort_keys=[(k, "ascending") for k in [*key, "_row"]])
    ordered = rows.take(order)
    before, after = ordered.slice(0, n - 1), ordered.slice(1)
    same = pc.equal(before[key[0]], after[key[0]])
    for name in key[1:]:
        same = pc.and_(same, pc.equal(before[name], after[name]))
    v0, v1, f0, f1 = before["value"], after["value"], before["flag"], after["flag"]
    value_differs = pc.fill_null(pc.not_equal(v0, v1), False)
    flag_differs = pc.fill_null(pc.not_equal(f0, f1), pc.xor(pc.is_null(f0), pc.is_null(f1)))
    mask = pc.and_(same, pc.or_(value_differs, flag_differs))
    if not pc.any(mask).as_py():
        return []
    old, new = before.filter(mask), after.filter(mask)
    columns = [old[k].to_pylist() for k in key]
    columns += [old["value"].to_pylist(), old["flag"].to_pylist()]
    columns += [new["value"].to_pylist(), new["flag"].to_pylist()]
    return list(zip(*columns, strict=True))


#: ``obs_update``'s parameters: the corrected keys' columns as arrays (PostgreSQL updates
#: exactly the keys ``obs_corrections`` locked and audited; DuckDB, one process, takes none).
_KEY_ARRAYS = ("site_ids", "parameter_ids", "statistics", "periods", "times")


def _json(value: dict[str, Any]) -> str:
    """An audit value as JSON text (finite floats and strings only: they always serialise)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)


class ObservationWriter(SQLParts):
    """:meth:`~shanshui.store.Store.write_observations` over SQL."""

    if TYPE_CHECKING:  # provided by CodeIds
        _site_code: dict[int, str]
        _parameter_code: dict[int, str]

        def _sites_in_session(self, codes: Sequence[str]) -> dict[str, int]: ...

        def _parameters_in_session(self, codes: Sequence[str]) -> dict[str, int]: ...

        def _insert_events(self, events: Sequence[DeviceEvent]) -> int: ...  # EventStore

    def _audit_corrections(
        self, groups: list[tuple[list[tuple[Any, ...]], str]], now: datetime, actor: str
    ) -> None:
        """Audit corrections with the codes: (rows by ids, as obs_corrections returns them,
        reason) per group, in one staging of ``stage_audit``."""
        site, par = self._site_code, self._parameter_code  # the batch's ids are cached
        self._load(
            "stage_audit",
            [
                {
                    "changed": now, "actor": actor, "action": "correct",
                    "entity": "observation", "site": site[sid],
                    "key": f"{par[pid]}/{stat}/{per}/{t.astimezone(UTC).isoformat()}",
                    "old_value": _json({"value": ov, "flag": of}),
                    "new_value": _json({"value": nv, "flag": nf}),
                    "reason": reason,
                }
                for rows, reason in groups
                for sid, pid, stat, per, t, ov, of, nv, nf in rows
            ],
        )  # fmt: skip
        self._exec("audit_insert")

    def write_observations(
        self,
        batch: ObservationBatch,
        *,
        source: str | None = None,
        actor: str | None = None,
        events: Sequence[DeviceEvent] = (),
    ) -> WriteResult:
        now = datetime.now(UTC)
        table = _batch.checked(batch, received=now, source=source)
        if table.num_rows == 0:
            if not events:
                return WriteResult(0, 0, 0, 0)
            with self._session():
                return WriteResult(0, 0, 0, 0, self._insert_events(events))
        with self._session():
            # device events first: bad ones refuse the whole call before any reading is
            # staged; the same transaction keeps a chunk's readings and events together
            stored_events = self._insert_events(events) if events else 0
            # codes to integer ids (migration 0004), vectorised; unknown codes raise here,
            # inside the transaction, before anything is written
            site_id = encode(table["site"], self._sites_in_session)
            parameter_id = encode(table["parameter"], self._parameters_in_session)
            cols = [table[c] for c in OBS_STAGE.names[2:]]
            staged = pa.Table.from_arrays([site_id, parameter_id, *cols], schema=OBS_STAGE)
            # the last row of a key wins (Store contract), found on the integer keys; the rows
            # it replaced are audited like corrections across batches (DESIGN §4), looked for
            # only when there are some (the common batch has no repeated key)
            full = staged
            staged, superseded = _batch.last_of_keys(staged, OBS_STAGE.names[:5])
            audits: list[tuple[list[tuple[Any, ...]], str]] = []
            replaced = in_batch_corrections(full) if superseded else []
            self._stage("stage_obs", staged)
            span = pc.min_max(staged["time"]).as_py()
            ids = pc.min_max(staged["site_id"]).as_py()
            window = {
                "tmin": span["min"], "tmax": span["max"], "smin": ids["min"], "smax": ids["max"],
            }  # fmt: skip
            if replaced:  # rare: the keys inserted are needed to audit the chains
                stored_now = {tuple(r) for r in self._fetch("obs_insert_keys", window)}
                inserted = len(stored_now)
            else:
                inserted = self._exec("obs_insert", window)
            corrected = stale = 0
            if inserted < staged.num_rows:  # some keys are stored: resends or corrections
                found = self._fetch("obs_corrections", window)
                corrections = [tuple(r[:9]) for r in found if r[9]]
                stale = len(found) - len(corrections)
                if corrections:
                    audits.append((corrections, STORED_REASON))
                    columns = [[r[i] for r in corrections] for i in range(5)]
                    keys = dict(zip(_KEY_ARRAYS, columns, strict=True))
                    corrected = self._exec("obs_update", {**window, **keys})
                    if replaced:
                        stored_now |= {r[:5] for r in corrections}
            if replaced:
                # a key's replacements inside the batch are audited only if the batch stored
                # the key (inserted or corrected it): a batch replayed after a crash (applied
                # before) or stale (a later arrival is stored) changes nothing, so its chains
                # were audited already or never reached the store (reviews 16b #6, 17 #4).
                # CHOICE: a chain is audited whole, also a link stale against the stored value
                # (stored 5 at 00:35, the batch 1 at 00:30 then 2 at 00:40: 1 → 2 and 5 → 2)
                replaced = [r for r in replaced if tuple(r[:5]) in stored_now]
                if replaced:  # first, as before: the batch's own chain, then the stored one
                    audits.insert(0, (replaced, IN_BATCH_REASON))
            if audits:
                self._audit_corrections(audits, now, actor or source or "unknown")
            if inserted or corrected:  # a pure resend changes nothing: nothing to recompute
                self._mark_days(staged)
                # the sites, for the rules job: one statement over the staged batch (every site
                # of a batch that changed anything, also one whose rows were all resends: an
                # extra evaluation is harmless, a missed one is not)
                self._exec("rules_mark")
                if span["min"] < now - BACKFILL_AGE:  # history uploaded late: note how far back
                    self._exec("rules_backfill_mark", {"before": now - BACKFILL_AGE})
        unchanged = staged.num_rows - inserted - corrected
        return WriteResult(inserted, unchanged, corrected, superseded, stored_events, stale)

    def _mark_days(self, staged: pa.Table) -> None:
        """Mark the natural days of the staged hourly means for :meth:`recompute_daily`."""
        site_id = staged["site_id"]
        code = self._site_code
        zone_of = {i: self._site_tz[code[i]] for i in pc.unique(site_id).to_pylist()}
        days = _batch.natural_days(
            site_id, staged["statistic"], staged["period"], staged["time"], zone_of
        )
        if days.num_rows:
            marks = {"site_ids": days["site_id"].to_pylist(), "days": days["day"].to_pylist()}
            self._exec("dirty_mark", marks)
