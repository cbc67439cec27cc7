"""The write path of readings: :meth:`Store.write_observations` over SQL, by integer keys.

Per batch: check it (:func:`shanshui.store.batch.checked`, Arrow kernels), map the site and
parameter codes to their ids (:func:`shanshui.store.codes.encode`: a hash pass over the rows,
a lookup of the few distinct codes), drop repeated keys on the ids, stage the batch, insert
the new keys (``obs_insert``), audit and apply corrections (``obs_corrections``,
``obs_update``), mark the natural days of new hourly means (``dirty_mark``) and the sites
for the rules job (``rules_mark``, migration 0005), in one transaction.
:class:`ObservationWriter` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from shanshui.store import batch as _batch
from shanshui.store.api import ObservationBatch, WriteResult
from shanshui.store.codes import encode
from shanshui.store.mixin import SQLParts
from shanshui.store.stages import OBS_STAGE

__all__ = ["BACKFILL_AGE", "ObservationWriter"]

#: A write whose oldest reading is older than this is noted as a back-fill for the rules job
#: (``rules_backfill``, migration 0006): younger data lie inside any rules job's look-back
#: window (``RulesJob(lookback=…)``, 2 days by default; keep it at least this).
BACKFILL_AGE = timedelta(days=1)


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

    def _audit_corrections(self, rows: list[tuple[Any, ...]], now: datetime, actor: str) -> None:
        """Audit corrections (rows by ids, as obs_corrections returns them) with the codes."""
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
                    "reason": "a later reading replaced the stored one",
                }
                for sid, pid, stat, per, t, ov, of, nv, nf in rows
            ],
        )  # fmt: skip
        self._exec("audit_insert")

    def write_observations(
        self, batch: ObservationBatch, *, source: str | None = None, actor: str | None = None
    ) -> WriteResult:
        now = datetime.now(UTC)
        table = _batch.checked(batch, received=now, source=source)
        if table.num_rows == 0:
            return WriteResult(0, 0, 0, 0)
        with self._session():
            # codes to integer ids (migration 0004), vectorised; unknown codes raise here,
            # inside the transaction, before anything is written
            site_id = encode(table["site"], self._sites_in_session)
            parameter_id = encode(table["parameter"], self._parameters_in_session)
            cols = [table[c] for c in OBS_STAGE.names[2:]]
            staged = pa.Table.from_arrays([site_id, parameter_id, *cols], schema=OBS_STAGE)
            # the last row of a key wins (Store contract), found on the integer keys
            staged, superseded = _batch.last_of_keys(staged, OBS_STAGE.names[:5])
            self._stage("stage_obs", staged)
            span = pc.min_max(staged["time"]).as_py()
            ids = pc.min_max(staged["site_id"]).as_py()
            window = {
                "tmin": span["min"], "tmax": span["max"], "smin": ids["min"], "smax": ids["max"],
            }  # fmt: skip
            inserted = self._exec("obs_insert", window)
            corrected = 0
            if inserted < staged.num_rows:  # some keys are stored: resends or corrections
                corrections = self._fetch("obs_corrections", window)
                if corrections:
                    self._audit_corrections(corrections, now, actor or source or "unknown")
                    corrected = self._exec("obs_update", window)
            if inserted or corrected:  # a pure resend changes nothing: nothing to recompute
                self._mark_days(staged)
                # the sites, for the rules job: one statement over the staged batch (every site
                # of a batch that changed anything, also one whose rows were all resends: an
                # extra evaluation is harmless, a missed one is not)
                self._exec("rules_mark")
                if span["min"] < now - BACKFILL_AGE:  # history uploaded late: note how far back
                    self._exec("rules_backfill_mark", {"before": now - BACKFILL_AGE})
        unchanged = staged.num_rows - inserted - corrected
        return WriteResult(inserted, unchanged, corrected, superseded)

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
