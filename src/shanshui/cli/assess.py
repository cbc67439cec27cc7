"""``shanshui assess`` and ``shanshui rank``: period assessment of stations and cities.

Both read either CNEMC/quotsoft or PRSA files (any format :func:`shanshui.formats.read_any`
knows), taking each station's city and reference flag (对照点) from the national station list
shipped with shanshui, or a store (``--db PATH`` or ``--postgres URL``: the stored hourly
means through :func:`shanshui.store.reading.read_long` and the stored sites through
:func:`~shanshui.store.reading.station_table`), and apply GB 3095-2012 and HJ 663-2013 through
:mod:`shanshui.standards.assessment`. A city's value comes from its assessment stations
only; reference stations are listed but left out (HJ 663-2013).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from shanshui.errors import ShanshuiError
from shanshui.standards.assessment import NetworkAssessment, assess_network
from shanshui.standards.composite import POLLUTANTS, change_percent, change_points, rank

if TYPE_CHECKING:
    from shanshui.store import Store

_UNITS = {p: "µg/m³" for p in POLLUTANTS} | {"CO": "mg/m³"}
_CHANGE_FIELDS = ("mean", "p98", "assessed", "max_daily", "valid_days", "days_over_limit")


def _parse_day(text: str, *, last: bool) -> dt.date:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a year or month means its first or last day."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            year = int(parts[0])
            return dt.date(year, 12, 31) if last else dt.date(year, 1, 1)
        if len(parts) == 2:
            year, month = int(parts[0]), int(parts[1])
            day = calendar.monthrange(year, month)[1] if last else 1
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"not a date (YYYY, YYYY-MM or YYYY-MM-DD): {text!r}") from exc


def _year_before(day: dt.date) -> dt.date:
    """The same calendar day one year earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def _num(x: Any, digits: int = 4) -> Any:
    """JSON-safe number: NaN → None, numpy scalars → Python, floats rounded."""
    if x is None:
        return None
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, bool):
        return x
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, digits)
    return x


def _load(files: list[Path]) -> pd.DataFrame:
    from shanshui.formats import read_any  # noqa: PLC0415 - heavy import only when used

    frames = [read_any(path) for path in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _station_list() -> pd.DataFrame:
    from shanshui.formats import stations  # noqa: PLC0415

    return stations()


def check_source(
    files: list[Any] | None, db: Path | None, postgres: str | None, what: str = "FILES"
) -> None:
    """Exactly one source: files, ``--db`` or ``--postgres`` (else a usage error, exit 2)."""
    given = [
        name
        for name, there in (
            (what, bool(files)),
            ("--db", db is not None),
            ("--postgres", postgres is not None),
        )
        if there
    ]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        raise typer.BadParameter(
            f"give exactly one source: {what}, --db PATH or --postgres URL (got {got})"
        )


@contextmanager
def open_source_store(db: Path | None, postgres: str | None) -> Iterator[Store]:
    """Open the store of ``--db``/``--postgres`` for reading; a missing DuckDB file or an
    unreachable server prints ``error: …`` and exits 1 (a read never creates a store): the
    writing commands' :func:`shanshui.cli.sites.open_existing`."""
    from shanshui.cli.sites import open_existing  # noqa: PLC0415 - heavy import only when used

    with open_existing(db, postgres) as store:
        yield store


def _next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def store_assess_input(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    city: str | None = None,
    station: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (frame, stations) :func:`assess_report` needs, read from a store.

    The hourly means (statistic ``avg``, period ``hour``) of the six pollutants of the city's
    or station's sites from the first day of the same period one year earlier (for the
    year-on-year change) to the end of ``end``; the stations as stored.
    """
    from shanshui.store.reading import read_long, station_table  # noqa: PLC0415

    if (city is None) == (station is None):
        raise typer.BadParameter("give exactly one of --city NAME or --station CODE")
    frame = read_long(
        store,
        station,
        city=city,
        start=min(_year_before(start), start),
        end=_next_day(end),
        parameters=list(POLLUTANTS),
    )
    return frame, station_table(store)


def store_rank_input(
    store: Store, start: dt.date, end: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (frame, stations) :func:`rank_report` needs: every stored air site's hourly means
    of the six pollutants over ``start`` … ``end``, and the stations as stored."""
    from shanshui.store.reading import read_long, station_table  # noqa: PLC0415

    frame = read_long(store, start=start, end=_next_day(end), parameters=list(POLLUTANTS))
    return frame, station_table(store)


def _scope_frame(
    frame: pd.DataFrame, stations: pd.DataFrame, city: str | None, station: str | None
) -> tuple[pd.DataFrame, str, str]:
    if (city is None) == (station is None):
        raise typer.BadParameter("give exactly one of --city NAME or --station CODE")
    if station is not None:
        sub = frame[frame["site"] == station]
        if sub.empty:
            raise typer.BadParameter(f"no data for station {station!r} in the input")
        return sub, "station", station
    assert city is not None
    codes = set(stations.loc[stations["city"] == city, "code"])
    if not codes:
        raise typer.BadParameter(f"{city!r} is not a city of the national station list")
    sub = frame[frame["site"].isin(codes)]
    if sub.empty:
        raise typer.BadParameter(f"no data for any station of {city!r} in the input")
    return sub, "city", city


def _entity_report(result: NetworkAssessment, kind: str, name: str) -> dict[str, Any]:
    table = result.cities if kind == "city" else result.stations
    summary = result.city_summary if kind == "city" else result.station_summary
    pollutants: dict[str, Any] = {}
    for p in POLLUTANTS:
        row = table.loc[(name, p)]
        rank_p = int(row["percentile_rank"])
        pollutants[p] = {
            "unit": _UNITS[p],
            "mean": _num(row["mean"]),
            f"p{rank_p}": _num(row["percentile"]),
            "p98": _num(row["p98"]),
            "percentile_rank": rank_p,
            "assessed": _num(row["assessed"]),
            "limit_grade_II": _num(row["limit_II"]),
            "exceedance_multiple": _num(row["exceedance_multiple"]),
            "compliant_grade_II": bool(row["compliant_II"]),
            "compliant_grade_I": bool(row["compliant_I"]),
            "valid_days": int(row["valid_days"]),
            "expected_days": int(row["expected_days"]),
            "minimum_days": int(row["minimum_days"]),
            "valid": bool(row["valid"]),
            "days_over_limit": int(row["days_over_limit"]),
            "max_daily": _num(row["max_daily"]),
        }
    s = summary.loc[name]
    out: dict[str, Any] = {
        "pollutants": pollutants,
        "composite_index": _num(s["composite_index"], 3),
        "single_indices": {p: _num(s[f"I_{p}"], 3) for p in POLLUTANTS},
        "max_index_pollutant": s["max_index_pollutant"] or None,
    }
    for key in ("good_days_ratio", "heavy_days_ratio", "good_days", "heavy_days", "aqi_days"):
        out[key] = _num(s[key]) if key in s.index else None
    return out


def _changes(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Year-on-year change of every statistic (同比): percent, shares in points."""
    pol: dict[str, Any] = {}
    for p in POLLUTANTS:
        a, b = now["pollutants"][p], before["pollutants"][p]
        pol[p] = {}
        both_valid = a["valid"] and b["valid"]  # no change from an invalid period
        for key in (*_CHANGE_FIELDS, f"p{a['percentile_rank']}"):
            x, y = a.get(key), b.get(key)
            ok = both_valid and x is not None and y is not None
            pol[p][f"{key}_change_pct"] = _num(float(change_percent(x, y)), 2) if ok else None
    out: dict[str, Any] = {"pollutants": pol}
    for key in ("composite_index", "good_days", "heavy_days"):
        x, y = now.get(key), before.get(key)
        ok = x is not None and y is not None
        out[f"{key}_change_pct"] = _num(float(change_percent(x, y)), 2) if ok else None
    for key in ("good_days_ratio", "heavy_days_ratio"):
        x, y = now.get(key), before.get(key)
        ok = x is not None and y is not None
        out[f"{key}_change_points"] = _num(float(change_points(x, y)), 2) if ok else None
    return out


def assess_report(
    frame: pd.DataFrame,
    stations: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    city: str | None = None,
    station: str | None = None,
) -> dict[str, Any]:
    """The ``shanshui assess --json`` object for one city or station (see module doc)."""
    sub, kind, name = _scope_frame(frame, stations, city, station)
    result = assess_network(sub, stations, start, end)
    report: dict[str, Any] = {"scope": name, "scope_kind": kind}
    report["from"] = start.isoformat()
    report["to"] = end.isoformat()
    if kind == "city":
        report["stations"] = result.members.get(name, [])
        report["reference_stations_excluded"] = result.reference.get(name, [])
    report |= _entity_report(result, kind, name)
    report["convention"] = (
        "natural days 00-24 Asia/Shanghai; hourly values labelled by the start of the hour; "
        "GB 3095-2012 Table 4 validity; HJ 663-2013 percentiles; composite index per MEP "
        "city ranking rule (环办监测〔2018〕19号)"
    )
    p_start, p_end = _year_before(start), _year_before(end)
    times = sub["time"]
    t_prev_end = pd.Timestamp(p_end + dt.timedelta(days=1)).tz_localize(times.dt.tz)
    t_prev_start = pd.Timestamp(p_start).tz_localize(times.dt.tz)
    if ((times >= t_prev_start) & (times < t_prev_end)).any():
        before = _entity_report(assess_network(sub, stations, p_start, p_end), kind, name)
        report["previous"] = {"from": p_start.isoformat(), "to": p_end.isoformat()} | before
        report["year_on_year"] = _changes(report, before)
    else:
        report["previous"] = None
        report["year_on_year"] = None
    return report


def rank_report(
    frame: pd.DataFrame, stations: pd.DataFrame, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """All cities ranked by composite index (MEP city ranking rule; 1 = best)."""
    result = assess_network(frame, stations, start, end)
    summary = result.city_summary.copy()
    summary["rank"] = rank(summary["composite_index"])
    means = result.cities["mean"].unstack("pollutant")
    summary["PM2.5_mean"] = means["PM2.5"]
    summary["stations"] = [len(result.members.get(c, [])) for c in summary.index]
    return summary.sort_values(["rank", "composite_index"], na_position="last")


def _fmt(x: Any, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _print_assessment(report: dict[str, Any]) -> None:
    console = Console()
    title = f"{report['scope']}  {report['from']} … {report['to']}"
    table = Table(title=title)
    for col in ("pollutant", "mean", "percentile", "valid days", "valid", "超标倍数", "grade II"):
        table.add_column(col, justify="right" if col != "pollutant" else "left")
    for p, row in report["pollutants"].items():
        rank_p = row["percentile_rank"]
        digits = 2 if p == "CO" else 1
        table.add_row(
            f"{p} [{row['unit']}]",
            _fmt(row["mean"], digits),
            f"p{rank_p} {_fmt(row[f'p{rank_p}'], digits)}",
            f"{row['valid_days']}/{row['expected_days']} (≥{row['minimum_days']})",
            "yes" if row["valid"] else "NO",
            _fmt(row["exceedance_multiple"], 2),
            "达标" if row["compliant_grade_II"] else "超标",
        )
    console.print(table)
    ratio = report.get("good_days_ratio")
    console.print(
        f"composite index {_fmt(report['composite_index'], 2)}; "
        f"good days {_fmt(None if ratio is None else ratio * 100)} % "
        f"({report.get('good_days')}/{report.get('aqi_days')}); "
        f"heavy days {report.get('heavy_days')}"
    )
    if report.get("stations") is not None:
        console.print(
            f"stations: {', '.join(report['stations'])}; reference (excluded): "
            f"{', '.join(report.get('reference_stations_excluded', [])) or '—'}"
        )
    yoy = report.get("year_on_year")
    if yoy:
        pm = yoy["pollutants"]["PM2.5"]["mean_change_pct"]
        console.print(
            f"year on year: PM2.5 mean {_fmt(pm)} %, composite index "
            f"{_fmt(yoy['composite_index_change_pct'])} %"
        )


FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="CNEMC or PRSA files (or read a store: --db / --postgres).", exists=True),
]
DbOpt = Annotated[
    Path | None, typer.Option("--db", help="Read the embedded (DuckDB) store at PATH.")
]
PgOpt = Annotated[
    str | None,
    typer.Option("--postgres", help="Read the PostgreSQL store at URL (postgresql://…)."),
]
FromOpt = Annotated[str, typer.Option("--from", help="First day: YYYY[-MM[-DD]].")]
ToOpt = Annotated[str, typer.Option("--to", help="Last day (inclusive): YYYY[-MM[-DD]].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _input(
    files: list[Path] | None,
    db: Path | None,
    postgres: str | None,
    from_store: Callable[[Store], tuple[pd.DataFrame, pd.DataFrame]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long table and the station list, from the files or else from the store."""
    if files:
        return _load(files), _station_list()
    with open_source_store(db, postgres) as store:
        return from_store(store)


def assess_command(
    files: FilesArg = None,
    *,
    start: FromOpt,
    end: ToOpt,
    city: Annotated[
        str | None, typer.Option("--city", help="City as the station list writes it (北京).")
    ] = None,
    station: Annotated[str | None, typer.Option("--station", help="Station code.")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
    postgres: PgOpt = None,
) -> None:
    """Period statistics of one city or station (GB 3095-2012, HJ 663-2013)."""
    check_source(files, db, postgres)
    first, last = _parse_day(start, last=False), _parse_day(end, last=True)
    try:
        frame, stations = _input(
            files, db, postgres,
            lambda store: store_assess_input(store, first, last, city=city, station=station),
        )  # fmt: skip
        report = assess_report(frame, stations, first, last, city=city, station=station)
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_assessment(report)


def rank_command(
    files: FilesArg = None,
    *,
    start: FromOpt,
    end: ToOpt,
    as_json: JsonOpt = False,
    db: DbOpt = None,
    postgres: PgOpt = None,
) -> None:
    """Rank every city in the files or the store by composite index (MEP city ranking rule)."""
    check_source(files, db, postgres)
    first, last = _parse_day(start, last=False), _parse_day(end, last=True)
    try:
        frame, stations = _input(
            files, db, postgres, lambda store: store_rank_input(store, first, last)
        )
        ranked = rank_report(frame, stations, first, last)
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    rows = [
        {
            "rank": _num(r["rank"]),
            "city": city,
            "composite_index": _num(r["composite_index"], 2),  # as ranked (2 decimals)
            "composite_index_exact": _num(r["composite_index"], 4),
            "max_index_pollutant": r["max_index_pollutant"] or None,
            "PM2.5_mean": _num(r["PM2.5_mean"], 2),
            "good_days_ratio": _num(r.get("good_days_ratio")),
            "stations": int(r["stations"]),
        }
        for city, r in ranked.iterrows()
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {"from": first.isoformat(), "to": last.isoformat(), "cities": rows},
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"city ranking {first} … {last} (composite index, 1 = best)")
    for col in ("rank", "city", "index", "max item", "PM2.5", "good days %", "stations"):
        table.add_column(col)
    for r in rows:
        ratio = r["good_days_ratio"]
        table.add_row(
            _fmt(r["rank"], 0),
            str(r["city"]),
            _fmt(r["composite_index"], 2),
            str(r["max_index_pollutant"] or "—"),
            _fmt(r["PM2.5_mean"]),
            _fmt(None if ratio is None else ratio * 100),
            str(r["stations"]),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the assessment commands ``assess`` and ``rank`` to the main app."""
    app.command("assess")(assess_command)
    app.command("rank")(rank_command)
