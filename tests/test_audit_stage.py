"""The audit stage: any number of audit entries in one transaction, each inserted once.

Contract tests on DuckDB and PostgreSQL (``store`` fixture of ``tests/pg.py``). PostgreSQL's
staging tables keep their rows until the commit (``on commit delete rows``); before the fix a
second ``_insert_audit`` in one transaction inserted the first entry again. DESIGN §4: audit
overrides are kept beside the original — one log line per change, never a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shanshui.store import Store

pytest_plugins = ["pg"]


def _audit(store: Any, key: str, reason: str) -> None:
    store._insert_audit(
        changed=datetime(2026, 1, 1, tzinfo=UTC), actor="test", action="note", entity="device",
        site=None, key=key, old={"n": 0}, new={"n": key}, reason=reason,
    )  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_each_call_in_one_transaction_inserts_its_own_entry_once(store: Store, n: int) -> None:
    with store._session():  # type: ignore[attr-defined]
        for i in range(n):
            _audit(store, f"k{i}", f"reason {i}")
    log = store.audit_log(entity="device")
    assert [(e.key, e.reason, e.new_value) for e in log] == [
        (f"k{i}", f"reason {i}", {"n": f"k{i}"}) for i in range(n)
    ]


def test_a_later_transaction_starts_with_an_empty_stage(store: Store) -> None:
    with store._session():  # type: ignore[attr-defined]
        _audit(store, "a", "first")
        _audit(store, "b", "first")
    with store._session():  # type: ignore[attr-defined]
        _audit(store, "c", "second")
        _audit(store, "d", "second")
    assert [e.key for e in store.audit_log(entity="device")] == ["a", "b", "c", "d"]


def test_a_rolled_back_transaction_leaves_nothing_behind(store: Store) -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError), store._session():  # type: ignore[attr-defined]
        _audit(store, "gone1", "rolled back")
        _audit(store, "gone2", "rolled back")
        raise BoomError
    with store._session():  # type: ignore[attr-defined]
        _audit(store, "kept", "after")
    assert [e.key for e in store.audit_log(entity="device")] == ["kept"]


def test_a_bulk_load_then_single_entries_in_one_transaction(store: Store) -> None:
    # the bulk path (upsert_devices, corrections: one load of many rows) then _insert_audit
    # twice, in one transaction: 2 + 1 + 1 entries, none repeated
    row = {
        "changed": datetime(2026, 1, 1, tzinfo=UTC), "actor": "op", "action": "upsert",
        "entity": "device", "site": None, "old_value": None, "new_value": None, "reason": None,
    }  # fmt: skip
    with store._session():  # type: ignore[attr-defined]
        store._load("stage_audit", [{**row, "key": "bulk1"}, {**row, "key": "bulk2"}])  # type: ignore[attr-defined]
        store._exec("audit_insert")  # type: ignore[attr-defined]
        _audit(store, "one", "single")
        _audit(store, "two", "single")
    keys = sorted(e.key for e in store.audit_log(entity="device"))
    assert keys == ["bulk1", "bulk2", "one", "two"]
