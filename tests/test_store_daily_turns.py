"""Several ``serve`` processes on one PostgreSQL (DESIGN §6) each recompute the days their
writers marked (issue 4: daily aggregates follow new and late data). A process takes the
marks it recomputes and the others skip them, so no day is recomputed twice at once and a
writer's mark never waits in a lock cycle with another process's clearing of marks (review
16a, finding 4: the two had deadlocked). Reference: GB 3095-2012 Table 4 (24-hour mean from
the day's hourly means), as in ``test_store.py``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.store import Site, open_store
from shanshui.store.seed import AIR_PARAMETERS

pytest_plugins = ["pg"]
pytestmark = pytest.mark.postgres

T0 = datetime(2025, 1, 1, 0, tzinfo=UTC) - timedelta(hours=8)  # 00:00 Beijing, 1 January


def hours(site: str, day: int, value: float) -> pd.DataFrame:
    start = T0 + timedelta(days=day)
    return pd.DataFrame(
        {
            "site": site, "parameter": "NO2", "statistic": "avg", "period": "hour",
            "time": [start + timedelta(hours=h) for h in range(24)], "value": value,
            "flag": "N",
        }
    )  # fmt: skip


def test_a_mark_taken_by_one_process_is_skipped_by_another(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.upsert_parameters(AIR_PARAMETERS)
        store.upsert_sites([Site("1001A", "万寿西宫", "air"), Site("1003A", "东四", "air")])
        store.write_observations(
            pd.concat([hours("1001A", 0, 30.0), hours("1003A", 0, 40.0)], ignore_index=True)
        )
    a, b = open_store(pg_url), open_store(pg_url)
    try:
        holding, go = threading.Event(), threading.Event()
        exec_ = a._exec

        def exec_holding(name, params=None):  # type: ignore[no-untyped-def]
            if name == "daily_upsert":  # A has taken its chunk of marks, not yet cleared it
                holding.set()
                go.wait(30)
            return exec_(name, params)

        a._exec = exec_holding  # type: ignore[method-assign]
        done: dict[str, int] = {}
        worker = threading.Thread(target=lambda: done.update(a=a.recompute_daily()))
        worker.start()
        assert holding.wait(30)
        done["b"] = b.recompute_daily()  # both marks are A's: nothing for B (it does not wait)
        # a writer marks one of A's days again (a late hour): it waits for A's commit, then
        # its mark stands for the next recomputation
        late = hours("1001A", 0, 90.0).iloc[[23]]
        writer = threading.Thread(target=lambda: b.write_observations(late))
        writer.start()
        writer.join(0.5)
        go.set()
        worker.join(30)
        writer.join(30)
        assert done == {"a": 2, "b": 0}
        assert b.recompute_daily() == 1  # the late hour's day, once
        got = b.daily(["1001A", "1003A"], "NO2").set_index("site")
    finally:
        a.close()
        b.close()
    assert got.loc["1001A", "value"] == pytest.approx((23 * 30.0 + 90.0) / 24)
    assert got.loc["1003A", "value"] == pytest.approx(40.0)
    assert set(got["day"]) == {date(2025, 1, 1)}
