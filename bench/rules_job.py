"""The rules job's reads: one full run and one incremental run, against the view-based reads
they replaced (measured in the same run, on the same store).

Usage: ``python bench/rules_job.py [--outlets 100] [--hours 48] [--changed 5] [--no-postgres]``

The store: ``--outlets`` outlets under ten synthetic permits (SO2 with O2 for the converted
concentration, NOx; reporting interval 5 min), ``--hours`` hours of minute data (3 readings a
minute each), every reading ``received`` 30 s after its data time, as a live gateway writes
them. Values stay under the limits: the runs' cost is their reads, not alarm writes.

* **full**: a fresh job's first run (every outlet read) at the end of the data.
* **incremental**: ``--changed`` outlets get their next minute, then the job runs again
  (it must read those outlets only, plus what the offline rule asks of all).

**baseline** is the same job with the readers of before migration 0005 (the SQL text is kept
below, verbatim): ``alarm_*`` on the ``observation`` view by site codes, and the changed
outlets found by ``received`` (``alarm_received_max`` for the first run's watermark,
``alarm_changed_sites`` for the incremental one: on PostgreSQL both read the whole of
``obs``, no index on ``received``). **new** is the job as it is: ``obs`` by integer ids and
the write path's marks (``rules_take``). Each is timed twice, alternating, and the better
time is kept; ``ratio`` = baseline / new (above 1: the new reads are faster).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/pg.py: the throwaway PostgreSQL cluster

from shanshui.permits import Enterprise, Limit, Outlet, Permit  # noqa: E402
from shanshui.rules.engine import RulesJob  # noqa: E402
from shanshui.store import Parameter, Store, open_store  # noqa: E402
from shanshui.store.alarms import RuleMark  # noqa: E402
from shanshui.store.sql import Query, _convert  # noqa: E402

SO2, NOX, O2 = "a21026", "a21002", "a19001"
T0 = datetime(2026, 3, 1, 0, tzinfo=UTC)
DELAY = timedelta(seconds=30)  # received = data time + 30 s
PER_PERMIT = 10

# -- the baseline: the readers' SQL text before migration 0005 (view by codes) -------------
OLD_SQL = {
    "alarm_flag_hours": """
select site, cast(floor(extract(epoch from time) / 3600) as bigint) as hour,
       coalesce(flag, 'N') as flag, count(*) as n
from observation
where site in (select unnest(cast(:sites as text[])))
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by 1, 2, 3
order by 1, 2, 3""",
    "alarm_gaps": """
with times as (
    select distinct site, time from observation
    where site in (select unnest(cast(:sites as text[])))
      and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
    union
    select site, max(time) as time from observation
    where site in (select unnest(cast(:sites as text[]))) and time < cast(:start as timestamptz)
    group by site
),
steps as (
    select site, time, lag(time) over (partition by site order by time) as prev from times
)
select site, prev, time
from steps
where prev is not null and extract(epoch from (time - prev)) > cast(:min_gap as double precision)
order by site, prev""",
    "alarm_data_span": """
select site, min(time) as first_time, max(time) as last_time
from observation
where site in (select unnest(cast(:sites as text[]))) and time < cast(:end as timestamptz)
group by site
order by site""",
    "alarm_cou_sums": """
select site, parameter, sum(value) as total, count(*) as hours
from observation
where site in (select unnest(cast(:sites as text[])))
  and parameter in (select unnest(cast(:parameters as text[])))
  and statistic = 'cou' and period = 'hour'
  and time >= cast(:start as timestamptz) and time < cast(:end as timestamptz)
group by site, parameter
order by site, parameter""",
    "alarm_changed_sites": """
select site, max(received) as received
from observation
where received > cast(:since as timestamptz)
group by site
union all
select site, cast(null as timestamptz) as received
from observation
where time >= cast(:t0 as timestamptz) and time < cast(:t1 as timestamptz)
group by site""",
    "alarm_received_max": "select max(received) from observation",
}
GRACE = timedelta(minutes=5)  # the old job's default: since = watermark - grace


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


class ViewReads:
    """The rules' reads as they were before migration 0005, mixed into a store's class: the
    view by codes, and "marks" made up from the old ``received`` scans (each outlet found
    gets a new gen, so the job reads it, as the old job did)."""

    dialect: Any
    since: datetime | None = None
    t0: datetime = T0
    t1: datetime = T0
    gen = 0

    def _old(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        text, names = _convert(OLD_SQL[name], self.dialect)
        q = Query(name, text, names)
        with self._session(write=False):  # type: ignore[attr-defined]
            return self._rows(q, q.bind(params))  # type: ignore[attr-defined,no-any-return]

    def rule_flag_hours(
        self, sites: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, datetime, str, int]]:
        rows = self._old("alarm_flag_hours", {"sites": list(sites), "start": start, "end": end})
        return [
            (str(s), datetime.fromtimestamp(int(h) * 3600, UTC), str(f), int(n))
            for s, h, f, n in rows
        ]

    def rule_gaps(
        self, sites: Sequence[str], start: datetime, end: datetime, min_gap_s: float
    ) -> list[tuple[str, datetime, datetime]]:
        params = {"sites": list(sites), "start": start, "end": end, "min_gap": float(min_gap_s)}
        return [(str(s), _utc(p), _utc(t)) for s, p, t in self._old("alarm_gaps", params)]

    def rule_cou_sums(
        self, sites: Sequence[str], parameters: Sequence[str], start: datetime, end: datetime
    ) -> dict[tuple[str, str], float]:
        params = {"sites": list(sites), "parameters": list(parameters), "start": start, "end": end}
        return {(str(s), str(p)): float(v) for s, p, v, _n in self._old("alarm_cou_sums", params)}

    def rule_data_span(
        self, sites: Sequence[str], end: datetime
    ) -> dict[str, tuple[datetime, datetime]]:
        rows = self._old("alarm_data_span", {"sites": list(sites), "end": end})
        return {str(s): (_utc(f), _utc(t)) for s, f, t in rows}

    def rule_marks(self) -> list[RuleMark]:
        if self.since is None:  # the first (full) run: the newest received time
            self.since = _utc(self._old("alarm_received_max", {})[0][0])
            return []
        params = {"since": self.since - GRACE, "t0": self.t0, "t1": self.t1}
        rows = self._old("alarm_changed_sites", params)
        self.since = max([self.since, *(_utc(r) for _s, r in rows if r is not None)])
        codes = sorted({str(s) for s, _r in rows})
        ids = self.site_ids(codes)  # type: ignore[attr-defined]
        self.gen += 1
        return [RuleMark(ids[c], c, self.gen, T0) for c in codes]


def permits(outlets: int) -> list[Permit]:
    out = []
    for p in range(0, outlets, PER_PERMIT):
        items = tuple(
            Outlet(
                f"DA{i:03d}", f"排口{i}", "主要", "air", f"OUT{i:03d}", None, 300,
                limits=(
                    Limit(SO2, "mg/m³", hourly=50, daily=40, converted=True, reference_o2=6),
                    Limit(NOX, "mg/m³", hourly=100),
                ),
            )
            for i in range(p, min(p + PER_PERMIT, outlets))
        )  # fmt: skip
        ent = Enterprise(f"E{p:03d}", f"示例厂{p} (synthetic)", "130100")
        out.append(
            Permit(f"P{p:03d}", ent, date(2026, 1, 1), date(2030, 12, 31), outlets=items,
                   synthetic=True)
        )  # fmt: skip
    return out


def minutes(sites: list[str], first: int, count: int, seed: int) -> pd.DataFrame:
    """Minute readings of ``sites`` for minutes ``first`` … ``first + count - 1`` after T0."""
    rng = np.random.default_rng(seed)
    n_sites = len(sites)
    t = np.datetime64(T0.replace(tzinfo=None), "m") + np.arange(first, first + count)
    times = np.tile(np.repeat(t, 3), n_sites)
    site = np.repeat(np.array(sites), 3 * count)
    par = np.tile(np.array([SO2, NOX, O2]), n_sites * count)
    base = np.tile(np.array([20.0, 50.0, 11.0]), n_sites * count)
    value = (base * rng.uniform(0.8, 1.2, base.size)).round(2)
    time_utc = pd.to_datetime(times).tz_localize(UTC)
    return pd.DataFrame(
        {"site": site, "parameter": par, "statistic": "avg", "period": "minute",
         "time": time_utc, "value": value, "flag": "N", "received": time_utc + DELAY}
    )  # fmt: skip


def build(store: Store, outlets: int, hours: int) -> list[str]:
    store.upsert_parameters(
        [Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(NOX, "NOx", "mg/m³", NOX),
         Parameter(O2, "O2", "%", O2)]
    )  # fmt: skip
    for p in permits(outlets):
        store.put_permit(p, actor="bench")
    sites = [f"OUT{i:03d}" for i in range(outlets)]
    for hour in range(hours):  # an hour of every outlet per batch
        store.write_observations(minutes(sites, hour * 60, 60, hour), source="bench")
    return sites


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(name: str, store: Store, reader: Store, args: argparse.Namespace) -> None:
    t, _ = timed(lambda: build(store, args.outlets, args.hours))
    sites = [f"OUT{i:03d}" for i in range(args.outlets)]
    n = args.outlets * args.hours * 60 * 3
    print(f"{name}: {n:,} readings of {args.outlets} outlets written in {t:.1f} s", flush=True)
    base_reader = reader
    base_reader.__class__ = type("View" + type(reader).__name__, (ViewReads, type(reader)), {})
    end = T0 + timedelta(hours=args.hours)
    best: dict[tuple[str, str], float] = {}
    evaluated: dict[tuple[str, str], int] = {}

    def note(kind: str, which: str, seconds: float, result: Any) -> None:
        key = (kind, which)
        best[key] = min(seconds, best.get(key, seconds))
        evaluated[key] = result.evaluated

    for rep in range(2):
        new = RulesJob(store)
        base = RulesJob(store)
        base.reader = base_reader
        base_reader.since = None  # type: ignore[attr-defined]
        now = end + timedelta(seconds=30)
        order = [("new", new), ("baseline", base)]
        for which, job in order if rep == 0 else order[::-1]:
            base_reader.t0 = base_reader.t1 = now  # type: ignore[attr-defined]
            note("full", which, *timed(lambda job=job, t=now: job.run_once(t)))
        # the changed outlets' next minute (received 30 s after it), then the next run
        minute = args.hours * 60 + rep
        changed = sites[rep * args.changed : (rep + 1) * args.changed]
        store.write_observations(minutes(changed, minute, 1, 1000 + rep), source="bench")
        later = end + timedelta(minutes=rep + 1)
        for which, job in order if rep == 0 else order[::-1]:
            base_reader.t0, base_reader.t1 = now, later  # type: ignore[attr-defined]
            note("incremental", which, *timed(lambda job=job, t=later: job.run_once(t)))
    # the two readers agree: a fresh job's full run finds nothing to change
    assert RulesJob(store).run_once(later).changed == 0
    for kind in ("full", "incremental"):
        b, a = best[(kind, "baseline")], best[(kind, "new")]
        print(
            f"{name:<9}{kind:<12}{b:>10.3f}{a:>10.3f}{b / a:>8.2f}"
            f"{evaluated[(kind, 'baseline')]:>6}{evaluated[(kind, 'new')]:>6}",
            flush=True,
        )


HEADER = f"{'store':<9}{'run':<12}{'base s':>10}{'new s':>10}{'ratio':>8}{'read':>6}{'read':>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=100)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--changed", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true")
    args = parser.parse_args()
    print("columns: seconds of the baseline and the new run, ratio = base / new, outlets read")
    with tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp:
        if not args.no_duckdb:
            store = open_store(f"{tmp}/rules.duckdb")
            reader = store.reader()  # type: ignore[attr-defined]
            try:
                print(HEADER)
                run("duckdb", store, reader, args)
            finally:
                reader.close()
                store.close()
        if not args.no_postgres:
            from pg import throwaway_cluster
            from shanshui.store.postgres import PostgresStore

            with throwaway_cluster() as cluster:
                if cluster is None:
                    return
                url = cluster.create_database()
                store = open_store(url)
                reader = PostgresStore(url)
                try:
                    print(HEADER)
                    run("postgres", store, reader, args)
                finally:
                    reader.close()
                    store.close()


if __name__ == "__main__":
    main()
