"""History requests (补数): the platform asks a data logger for a range of what it kept.

HJ 212-2017 Table C.1: 2031/2051/2061 are the platform's requests for daily, minute and
hourly history, with ``BeginTime`` and ``EndTime`` in CP; the device answers 9011, uploads
the data and ends with 9012. A request waits in the store (``device_recall``, migration
0008) until its device sends on a connection; the gateway hands it to that connection once
and notes when it was sent. Expected values here are the requests the tests make, checked
on DuckDB and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shanshui.ingest.gateway import DeviceRegistry
from shanshui.store import Store, StoreInputError
from shanshui.store.recalls import MAX_RECALL_SPAN, Recall

pytest_plugins = ["pg"]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MN = "010000A8900016F000169DC0"


def recall(cn: str = "2061", hours: int = 6, mn: str = MN, **kw: object) -> Recall:
    fields: dict[str, object] = {
        "mn": mn, "cn": cn, "begin": NOW - timedelta(hours=hours), "end": NOW,
        "requested": NOW, "actor": "apikey:op", "reason": "gap after an outage",
    }  # fmt: skip
    fields.update(kw)
    return Recall(**fields)  # type: ignore[arg-type]


def test_a_request_waits_until_a_gateway_sent_it(store: Store) -> None:
    assert store.request_recalls([recall(), recall(cn="2051", hours=2)]) == 2  # type: ignore[attr-defined]
    waiting = store.waiting_recalls()  # type: ignore[attr-defined]
    assert sorted((r.cn, r.begin, r.end) for r in waiting) == [
        ("2051", NOW - timedelta(hours=2), NOW),
        ("2061", NOW - timedelta(hours=6), NOW),
    ]
    sent_at = NOW + timedelta(minutes=3)
    assert store.recalls_sent([recall().key], sent_at) == 1  # type: ignore[attr-defined]
    assert store.recalls_sent([recall().key], sent_at + timedelta(hours=1)) == 0  # type: ignore[attr-defined]
    assert [r.cn for r in store.waiting_recalls()] == ["2051"]  # type: ignore[attr-defined]
    mine = {r.cn: r.sent for r in store.device_recalls(MN)}  # type: ignore[attr-defined]
    assert mine == {"2061": sent_at, "2051": None}  # the first send is kept
    # asked again: it waits again
    store.request_recalls([recall(requested=NOW + timedelta(hours=2))])  # type: ignore[attr-defined]
    assert sorted(r.cn for r in store.waiting_recalls()) == ["2051", "2061"]  # type: ignore[attr-defined]
    # each request is in the audit log
    audit = [e for e in store.audit_log(entity="device") if e.action == "recall"]
    assert len(audit) == 3 and {e.key for e in audit} == {MN}, audit


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"cn": "2011"}, "not a history request"),
        ({"begin": NOW + timedelta(hours=1)}, "after its end"),
        ({"begin": NOW - MAX_RECALL_SPAN - timedelta(hours=1)}, "at most"),
        ({"begin": datetime(2026, 3, 1)}, "timezone-aware"),
        ({"reason": ""}, "who asked and why"),
        ({"mn": ""}, "MN"),
    ],
)
def test_a_bad_request_is_refused_and_changes_nothing(
    store: Store, bad: dict[str, object], why: str
) -> None:
    with pytest.raises(StoreInputError, match=why):
        store.request_recalls([recall(mn="OTHER"), recall(**bad)])  # type: ignore[attr-defined]
    assert store.waiting_recalls() == []  # type: ignore[attr-defined]


def test_the_registry_hands_a_request_to_one_connection_and_notes_it_sent(store: Store) -> None:
    store.request_recalls([recall(), recall(mn="OTHER")])  # type: ignore[attr-defined]
    registry = DeviceRegistry(store)
    registry.refresh()
    assert set(registry.recalls) == {MN, "OTHER"}
    (taken,) = registry.take_recalls(MN)
    assert taken.key == recall().key
    assert registry.take_recalls(MN) == []  # once
    registry.refresh()  # not noted yet: still not handed out again
    assert registry.take_recalls(MN) == []
    registry.flush(every=0.0)
    assert [r.mn for r in store.waiting_recalls()] == ["OTHER"]  # type: ignore[attr-defined]
    (noted,) = store.device_recalls(MN)  # type: ignore[attr-defined]
    assert noted.sent is not None
    registry.refresh()
    assert set(registry.recalls) == {"OTHER"}
