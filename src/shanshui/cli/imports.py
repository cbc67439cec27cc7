"""``shanshui import cnemc|prsa|long|auto FILES… --db PATH | --postgres URL``.

Streams each file into the store (see :mod:`shanshui.ingest.importers` for the rules), with a
Rich progress bar on stderr, every bad row as ``file:line: reason`` on stderr (the first
``--show-bad`` of them; ``--bad-rows FILE`` writes them all as CSV) and a summary at the end.
Text from the files (cells quoted in reasons, site codes) and file names are printed
literally (escaped for Rich: ``[/b]`` in a cell is text, not markup).

Exit status: 0 when every file was read (bad rows and unknown sites are reported, not fatal;
``--strict`` makes them exit 2); 1 when a file could not be read at all, or the store failed.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError

app = typer.Typer(
    help="Import CNEMC/quotsoft, PRSA or long CSV files into a store (streaming, idempotent).",
    no_args_is_help=True,
)

FilesArg = Annotated[list[Path], typer.Argument(help="Files (.csv or .csv.gz).")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="DuckDB file of the embedded store.")]
PgOpt = Annotated[
    str | None, typer.Option("--postgres", help="PostgreSQL URL, postgresql://user@host/db.")
]
HourLabelOpt = Annotated[
    str,
    typer.Option(
        "--hour-label",
        help="How the file labels hours: end (CNEMC: h = mean over (h-1, h]) or start.",
    ),
]
CreateOpt = Annotated[
    bool,
    typer.Option(
        "--create-sites/--no-create-sites",
        help="Create sites missing from the store from the shipped national station list.",
    ),
]
ChunkOpt = Annotated[
    int | None, typer.Option("--chunk-lines", min=1, help="Source lines per chunk (memory bound).")
]
ShowBadOpt = Annotated[
    int, typer.Option("--show-bad", min=0, help="Bad rows printed on stderr (all are counted).")
]
BadFileOpt = Annotated[
    Path | None, typer.Option("--bad-rows", help="Write every bad row (file,line,reason) as CSV.")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 2 if any row was bad or any site unknown.")
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a TTY)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]


class _Run:
    """One import command: store, progress bar and bad-row reporting."""

    def __init__(
        self,
        *,
        show_bad: int,
        bad_file: Path | None,
        progress: bool | None,
    ) -> None:
        self.err = Console(stderr=True, soft_wrap=True)
        self.show_bad = show_bad
        self.shown = 0
        self.bad_out: IO[str] | None = None
        self.bad_writer: Any = None
        if bad_file is not None:
            self.bad_out = bad_file.open("w", newline="", encoding="utf-8")
            self.bad_writer = csv.writer(self.bad_out)
            self.bad_writer.writerow(["file", "line", "reason"])
        enabled = sys.stderr.isatty() if progress is None else progress
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=not enabled,
            transient=False,
        )
        self.task: TaskID | None = None

    def on_file(self, file: str, size: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total or 0)
        # file names print literally (a name like "[b].csv" is not markup)
        self.task = self.progress.add_task(escape(Path(file).name), total=size or None)

    def on_chunk(self, file: str, position: int, size: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=position, total=size or None)

    def on_bad(self, bad: Any) -> None:
        if self.bad_writer is not None:
            self.bad_writer.writerow([bad.file, bad.line, bad.reason])
        if self.shown < self.show_bad:
            self.shown += 1
            self.progress.console.print(
                # the reason quotes the file's own text: printed literally, never as markup
                f"[yellow]bad row[/] {escape(bad.file)}:{bad.line}: {escape(bad.reason)}",
                markup=True,
                highlight=False,
            )

    def close(self) -> None:
        if self.bad_out is not None:
            self.bad_out.close()


def _run(
    fmt: str,
    files: list[Path],
    *,
    db: Path | None,
    postgres: str | None,
    options: dict[str, Any],
    create_sites: bool,
    chunk_lines: int | None,
    show_bad: int,
    bad_rows: Path | None,
    strict: bool,
    progress: bool | None,
    as_json: bool,
    statistic: str = "avg",
    period: str = "hour",
) -> None:
    from shanshui import store as st  # noqa: PLC0415 - heavy imports only when used
    from shanshui.ingest.importers import Importer  # noqa: PLC0415

    target = store_target(db, postgres)
    if options.get("hour_label", "end") not in ("end", "start"):
        raise typer.BadParameter("--hour-label must be end or start")
    run = _Run(show_bad=show_bad, bad_file=bad_rows, progress=progress)
    try:
        with st.open_store(target) as store, run.progress:
            importer = Importer(
                store,
                create_sites=create_sites,
                statistic=statistic,
                period=period,
                chunk_lines=chunk_lines,
                options=options,
                on_chunk=run.on_chunk,
                on_bad=run.on_bad,
                on_file=run.on_file,
            )
            report = importer.import_files([str(f) for f in files], fmt)  # type: ignore[arg-type]
    except ShanshuiError as exc:
        run.err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        run.close()
    err = run.err
    if report.bad_count > run.shown:
        err.print(f"… {report.bad_count - run.shown} more bad rows not shown", highlight=False)
    for u in report.unknown_sites:
        err.print(
            f"[yellow]unknown site[/] {escape(u.file)}: {escape(repr(u.site))} is neither in "
            f"the store nor on the national station list; {u.values} values left out "
            "(register the site first: shanshui sites add)",
            highlight=False,
        )
    for f in report.failures:
        where = f"{f.file}:{f.line}" if f.line else f.file
        err.print(f"[red]cannot read[/] {escape(where)}: {escape(f.reason)}", highlight=False)
    rate = report.values / report.seconds if report.seconds else 0.0
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        err.print(
            f"{report.files} files, {report.lines} lines, {report.values} values in "
            f"{report.seconds:.1f} s ({rate:,.0f} values/s): {report.inserted} inserted, "
            f"{report.unchanged} unchanged, {report.corrected} corrected"
            # a reading repeated within the import with another value: the later row replaced
            # it, audited like a correction (review 20, finding 6: only --json showed it)
            f"{f', {report.superseded} replaced by a later row' if report.superseded else ''}; "
            f"{report.bad_count} bad rows, {report.skipped_values} values of unknown sites, "
            f"{len(report.failures)} unreadable files; "
            f"{len(report.created_sites)} sites created from the station list",
            highlight=False,
        )
    if report.failures:
        raise typer.Exit(1)
    if strict and (report.bad_count or report.unknown_sites):
        raise typer.Exit(2)


@app.command("cnemc")
def import_cnemc(
    files: FilesArg,
    *,
    db: DbOpt = None,
    postgres: PgOpt = None,
    derived: Annotated[
        bool, typer.Option("--derived", help="Also import AQI and CNEMC's rolling types.")
    ] = False,
    hour_label: HourLabelOpt = "end",
    create_sites: CreateOpt = True,
    chunk_lines: ChunkOpt = None,
    show_bad: ShowBadOpt = 20,
    bad_rows: BadFileOpt = None,
    strict: StrictOpt = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CNEMC/quotsoft station files china_sites_YYYYMMDD.csv[.gz] (hour h → start h−1)."""
    _run(
        "cnemc", files, db=db, postgres=postgres,
        options={"derived": derived, "hour_label": hour_label}, create_sites=create_sites,
        chunk_lines=chunk_lines, show_bad=show_bad, bad_rows=bad_rows, strict=strict,
        progress=progress, as_json=as_json,
    )  # fmt: skip


@app.command("prsa")
def import_prsa(
    files: FilesArg,
    *,
    db: DbOpt = None,
    postgres: PgOpt = None,
    meteorology: Annotated[
        bool,
        typer.Option("--meteorology/--no-meteorology", help="Also TEMP PRES DEWP RAIN WSPM WD."),
    ] = True,
    hour_label: HourLabelOpt = "end",
    create_sites: CreateOpt = True,
    chunk_lines: ChunkOpt = None,
    show_bad: ShowBadOpt = 20,
    bad_rows: BadFileOpt = None,
    strict: StrictOpt = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Beijing multi-site PRSA files (UCI 501; CO µg/m³ → mg/m³)."""
    _run(
        "prsa", files, db=db, postgres=postgres,
        options={"meteorology": meteorology, "hour_label": hour_label},
        create_sites=create_sites, chunk_lines=chunk_lines, show_bad=show_bad,
        bad_rows=bad_rows, strict=strict, progress=progress, as_json=as_json,
    )  # fmt: skip


@app.command("long")
def import_long(
    files: FilesArg,
    *,
    db: DbOpt = None,
    postgres: PgOpt = None,
    statistic: Annotated[
        str, typer.Option("--statistic", help="How the values are stored: avg, rtd, min, max, …")
    ] = "avg",
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help="Their period: hour, day, minute or rt (a time must start its period: "
            "08:00 for an hour, 00:00 Beijing time for a day; other rows are bad).",
        ),
    ] = "hour",
    create_sites: CreateOpt = True,
    chunk_lines: ChunkOpt = None,
    show_bad: ShowBadOpt = 20,
    bad_rows: BadFileOpt = None,
    strict: StrictOpt = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generic long CSV site,time,parameter,value[,flag][,unit] (time labels the start)."""
    _run(
        "long", files, db=db, postgres=postgres, options={}, create_sites=create_sites,
        chunk_lines=chunk_lines, show_bad=show_bad, bad_rows=bad_rows, strict=strict,
        progress=progress, as_json=as_json, statistic=statistic, period=period,
    )  # fmt: skip


@app.command("auto")
def import_auto(
    files: FilesArg,
    *,
    db: DbOpt = None,
    postgres: PgOpt = None,
    create_sites: CreateOpt = True,
    chunk_lines: ChunkOpt = None,
    show_bad: ShowBadOpt = 20,
    bad_rows: BadFileOpt = None,
    strict: StrictOpt = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Any of the formats above, detected per file from its header (reader defaults)."""
    _run(
        "auto", files, db=db, postgres=postgres, options={}, create_sites=create_sites,
        chunk_lines=chunk_lines, show_bad=show_bad, bad_rows=bad_rows, strict=strict,
        progress=progress, as_json=as_json,
    )  # fmt: skip


def register(main: typer.Typer) -> None:
    """Add ``shanshui import …`` to the main app."""
    main.add_typer(app, name="import", help="Import data files into a store (streaming).")
