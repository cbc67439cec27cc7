"""Contract tests of the permit and alarm store (migration 0003) on DuckDB and PostgreSQL.

Expected values are the inputs themselves and hand-stated audit rows (DESIGN §4: every
change keeps who, old, new and why); nothing is taken from the store under test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shanshui.permits import AnnualTotal, Enterprise, Limit, Monitoring, Outlet, Permit
from shanshui.store import Site, Store, StoreInputError
from shanshui.store.alarms import Alarm

pytest_plugins = ["pg"]

T0 = datetime(2026, 3, 1, tzinfo=UTC)

PERMIT = Permit(
    id="P-1",
    enterprise=Enterprise("E-1", "甲电厂 (synthetic)", "130100", "D4411", "石家庄"),
    valid_from=date(2026, 1, 1),
    valid_to=date(2030, 12, 31),
    outlets=(
        Outlet(
            "DA001", "1号烟囱", "主要", "air", "E1-DA001", "MN-A", 60,
            limits=(Limit("a21026", "mg/m³", 50.0, None, True, 6.0, 55.0, "GB 13223-2011 表2"),),
            monitoring=(Monitoring("a21026", "automatic", "continuous"),),
        ),
        Outlet("DW001", "废水总排口", "一般", "water", "E1-DW001", None, 3600,
               limits=(Limit("w01018", "mg/L", None, 50.0, standard="GB 18918-2002 一级A"),)),
    ),
    totals=(AnnualTotal("a21026", 2026, 280.0), AnnualTotal("w01018", 2026, 12.0)),
    synthetic=True,
)  # fmt: skip


def test_put_permit_round_trips_creates_outlet_sites_and_audits(store: Store) -> None:
    assert store.put_permit(PERMIT, actor="alice", reason="first issue") is True
    assert store.permit("P-1") == PERMIT
    assert store.permits() == [PERMIT] and store.permits(enterprise="E-2") == []
    assert store.enterprises() == [PERMIT.enterprise]
    assert store.enterprises(region="130000") == [PERMIT.enterprise]  # Hebei holds 130100
    assert store.enterprises(region="110000") == []
    outlets = {s.code: s for s in store.sites(kind="outlet")}
    assert set(outlets) == {"E1-DA001", "E1-DW001"} and outlets["E1-DA001"].region == "130100"
    (entry,) = store.audit_log(entity="permit")
    assert (entry.actor, entry.action, entry.key, entry.reason) == (
        "alice", "import", "P-1", "first issue",
    )  # fmt: skip
    assert entry.old_value is None and entry.new_value["outlets"][0]["code"] == "DA001"
    # the same permit again: nothing written, nothing audited
    assert store.put_permit(PERMIT, actor="alice") is False
    assert len(store.audit_log(entity="permit")) == 1
    renewed = replace(PERMIT, valid_to=date(2031, 12, 31))
    assert store.put_permit(renewed, actor="bob", reason="renewal") is True
    _first, new = store.audit_log(entity="permit")
    assert new.action == "replace" and new.old_value["valid_to"] == "2030-12-31"
    assert new.new_value["valid_to"] == "2031-12-31"


def test_set_limit_is_audited_and_checked(store: Store) -> None:
    store.put_permit(PERMIT, actor="alice")
    ultra_low = Limit("a21026", "mg/m³", 35.0, None, True, 6.0, None, "超低排放")
    new = store.set_permit_limit("P-1", "DA001", ultra_low, actor="op", reason="ultra-low")
    assert new.outlet("DA001").limit("a21026") == ultra_low  # type: ignore[union-attr]
    assert store.permit("P-1") == new
    (entry,) = store.audit_log(entity="permit_limit")
    assert (entry.key, entry.site, entry.actor) == ("P-1/DA001/a21026", "E1-DA001", "op")
    assert entry.old_value["hourly"] == 50.0 and entry.new_value["hourly"] == 35.0
    with pytest.raises(StoreInputError):
        store.set_permit_limit("P-9", "DA001", ultra_low, actor="op")
    with pytest.raises(StoreInputError):
        store.set_permit_limit("P-1", "DA404", ultra_low, actor="op")
    assert len(store.audit_log(entity="permit_limit")) == 1


def test_a_permit_on_a_station_site_is_refused_whole(store: Store) -> None:
    store.upsert_sites([Site("E1-DA001", "不是排口", "air", "130100")])
    with pytest.raises(StoreInputError, match="not outlets"):
        store.put_permit(PERMIT, actor="alice")
    assert store.permits() == [] and store.enterprises() == [] and store.audit_log() == []


def test_alarm_lifecycle_in_the_store(store: Store) -> None:
    store.put_permit(PERMIT, actor="alice")
    a = Alarm("E1-DA001", "exceedance", "a21026", T0, T0, hours=1, value=60.0, threshold=50.0,
              enterprise="E-1", permit="P-1", detail={"unit": "mg/m³"})  # fmt: skip
    (saved,) = store.save_alarms([a])
    assert saved.id is not None
    got = store.alarm(saved.id)
    assert got is not None and got.same_content(a)
    later = replace(got, last_seen=T0 + timedelta(hours=2), hours=3)
    store.save_alarms([later])
    assert store.alarm(saved.id).hours == 3  # type: ignore[union-attr]
    assert [x.id for x in store.alarms(state="open", site="E1-DA001")] == [saved.id]
    assert store.alarms(state="closed") == [] and store.alarms(rule="offline") == []
    assert [x.id for x in store.alarms(enterprise="E-1", since=T0)] == [saved.id]
    acked = store.acknowledge_alarm(saved.id, actor="op", note="seen")
    assert (acked.state, acked.acknowledged_by, acked.ack_note) == ("acknowledged", "op", "seen")
    with pytest.raises(StoreInputError):
        store.acknowledge_alarm(saved.id, actor="op")
    closed = store.close_alarm(
        saved.id, actor="op2", note="done", at=T0 + timedelta(hours=5, minutes=7)
    )
    assert (closed.state, closed.closed_by, closed.closed_at) == (
        "closed",
        "op2",
        T0 + timedelta(hours=5),
    )
    stored = store.alarm(saved.id)
    assert stored is not None and stored.acknowledged_by == "op" and stored.close_note == "done"
    with pytest.raises(StoreInputError):
        store.close_alarm(saved.id, actor="op")
    assert [(e.action, e.actor) for e in store.audit_log(entity="alarm")] == [
        ("acknowledge", "op"), ("close", "op2"),
    ]  # fmt: skip
    assert store.alarm(123456) is None
    with pytest.raises(StoreInputError):
        store.alarms(state="bogus")


def test_an_outlet_belongs_to_one_enterprise_at_a_time(store: Store) -> None:
    """A second enterprise's permit naming an outlet that another enterprise's permit holds
    for overlapping days is refused and writes nothing (review 22, finding 4: it took the
    outlet's alarms and limits, and its emissions counted in both enterprises' totals).
    The permit itself may be replaced with its enterprise corrected, the same enterprise may
    renew, and a new owner may take the outlet after the last permit's period."""
    store.put_permit(PERMIT, actor="test")
    other = replace(PERMIT, id="P-OTHER", enterprise=Enterprise("E-2", "乙厂 (synthetic)"))
    with pytest.raises(StoreInputError, match="E1-DA001 \\(E-1\\)"):
        store.put_permit(other, actor="test")
    assert [p.id for p in store.permits()] == ["P-1"]
    corrected = Enterprise("E-1B", "甲电厂 (synthetic)", "130100")
    store.put_permit(replace(PERMIT, enterprise=corrected), actor="test")
    renewal = replace(PERMIT, id="P-2", enterprise=corrected, valid_from=date(2031, 1, 1),
                      valid_to=date(2035, 12, 31))  # fmt: skip
    store.put_permit(renewal, actor="test")
    later = replace(other, valid_from=date(2036, 1, 1), valid_to=date(2040, 12, 31))
    store.put_permit(later, actor="test")
    assert sorted(p.id for p in store.permits()) == ["P-1", "P-2", "P-OTHER"]
