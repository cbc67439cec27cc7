"""File importers: CNEMC/quotsoft station files, PRSA files and generic long CSV into a store.

Streaming: a file is read in chunks of source lines (:func:`shanshui.formats.iter_chunks`
and the readers behind it), each chunk checked and written in one store transaction, so
memory stays bounded by the chunk size whatever the file size.

The chunks travel as Arrow tables (:attr:`shanshui.formats.Chunk.table`; the PRSA reader
builds them straight from Arrow's CSV parser, the others convert their frames): site,
parameter and flag dictionary-encoded, so that distinct sites and parameters are read off
the dictionaries and the store maps a few codes to ids instead of hashing every row. A PRSA
file (35,064 lines, ~415,000 values) is one chunk, one write. Reading overlaps writing: the
next file is opened and its first chunk read in a thread while the current one is written
(Arrow's parser and DuckDB release the GIL), and further chunks of a file are read one
ahead in another. For an empty store the national station list is loaded in a thread
while the first file is read.

Rules (DESIGN §4, §5):

- **Bad rows** are reported with file and line (:class:`~shanshui.formats.BadRow`) through
  ``on_bad`` and in the :class:`ImportReport`; the good rows of the file are kept.
- **A file that cannot be read at all** (missing, not CSV, unknown header, corrupt gzip) is
  a :class:`FileFailure` in the report; the other files are still imported. Chunks written
  before a file turned out corrupt half-way stay written (re-importing is harmless).
- **Idempotent**: readings go to :meth:`Store.write_observations` — importing the same file
  twice changes nothing (``unchanged``); a changed value replaces the stored one and is
  recorded in the store's audit log (``corrected``, actor ``import``).
- **What is stored**: every value of the files is an hourly mean (statistic ``avg``, period
  ``hour``; CNEMC and PRSA publish 1-hour means); a long CSV may say otherwise with the
  ``statistic``/``period`` arguments. Times are the canonical start of the hour (the readers
  shift CNEMC's and PRSA's end-of-hour labels, see :mod:`shanshui.formats`); a long CSV's
  time that does not start its period (08:19 for ``hour``, 13:00 for ``day``) is a bad row,
  as the HTTP ingest refuses it. Values that cannot be (a negative concentration, a
  non-finite number, a value beyond its parameter's plausibility bounds such as PM2.5 =
  99999) are bad rows in every format, by the rule the HTTP ingest applies too
  (:mod:`shanshui.formats.validity`); in the wide formats only the cell is left out.
- **Sites not yet in the store** are created from the shipped national station list
  (:func:`shanshui.formats.stations`, region from the city) when they are on it. Others are
  errors: their values are left out and reported per file and site as
  :class:`UnknownSite` (a station should be registered on purpose, with its name, kind and
  coordinates, not invented by an importer). :mod:`shanshui.ingest.import_sites` creates
  the sites and parameters.
- **Parameters not yet in the store** are created with the unit the reader gives
  (:data:`shanshui.formats.UNITS`, or a long CSV's ``unit`` column) and, for the six air
  pollutants, their HJ 212-2017 codes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shanshui import formats
from shanshui.formats import BadRow, Chunk, FormatError
from shanshui.formats.canonical import constant_strings, plain_strings
from shanshui.ingest.import_sites import Registrar
from shanshui.store import batch as store_batch
from shanshui.store.api import PERIODS, STATISTICS, Store, StoreInputError

__all__ = [
    "FORMATS",
    "FileFailure",
    "ImportReport",
    "Importer",
    "UnknownSite",
    "import_files",
]

Format = Literal["auto", "cnemc", "prsa", "long"]

#: The formats an importer reads (``auto``: detected from each file's header).
FORMATS: tuple[str, ...] = ("auto", "cnemc", "prsa", "long")

#: Source lines per chunk by format: a CNEMC line holds one value per station (~2,000), a
#: PRSA line 6 pollutants (+ 6 meteorological values), a long line one value.
DEFAULT_CHUNK_LINES = {"cnemc": 120, "prsa": 50_000, "long": 200_000}

_TIME = pa.timestamp("us", tz="UTC")

#: Columns the store's write path takes dictionary-encoded (``store.batch.CODES``; none
#: before it did): those are handed over as the readers make them.
_STORE_CODES: frozenset[str] = frozenset(getattr(store_batch, "CODES", ()))

#: Files opened (first chunk read) ahead of the one being written.
OPEN_AHEAD = 2

#: Bad rows kept in a report (all are counted and all go to ``on_bad``): bounded memory.
MAX_KEPT_BAD = 1000


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be read at all (or stopped being readable half-way)."""

    file: str
    reason: str
    line: int = 0
    """Line where reading stopped (0: the file as a whole)."""


@dataclass(frozen=True)
class UnknownSite:
    """Values of a site that is neither in the store nor on the shipped station list."""

    file: str
    site: str
    values: int


@dataclass
class ImportReport:
    """What an import did: counts, bad rows (with file and line), unreadable files."""

    files: int = 0
    lines: int = 0
    """Source lines read (good and bad, headers excluded)."""
    values: int = 0
    """Values the readers returned from good rows (before dropping unknown sites)."""
    inserted: int = 0
    unchanged: int = 0
    corrected: int = 0
    superseded: int = 0
    bad_count: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    """The first :data:`MAX_KEPT_BAD` bad rows."""
    unknown_sites: list[UnknownSite] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    created_sites: list[str] = field(default_factory=list)
    created_parameters: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def stored(self) -> int:
        """Values written or confirmed: inserted + unchanged + corrected."""
        return self.inserted + self.unchanged + self.corrected

    @property
    def skipped_values(self) -> int:
        """Values left out because their site is unknown."""
        return sum(u.values for u in self.unknown_sites)

    @property
    def ok(self) -> bool:
        """Every file could be read (bad rows and unknown sites aside)."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain data (for JSON output)."""
        return {
            "files": self.files,
            "lines": self.lines,
            "values": self.values,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "corrected": self.corrected,
            "superseded": self.superseded,
            "bad_rows": self.bad_count,
            "unknown_sites": [u.__dict__ for u in self.unknown_sites],
            "failures": [f.__dict__ for f in self.failures],
            "created_sites": self.created_sites,
            "created_parameters": self.created_parameters,
            "seconds": round(self.seconds, 3),
        }


#: ``on_chunk(file, position, size)``: bytes of the file on disk read so far, for progress.
ChunkCallback = Callable[[str, int, int], None]
#: ``on_bad(row)``: one bad row (file, line, reason).
BadCallback = Callable[[BadRow], None]
#: ``on_file(file, size)``: a file starts (size in bytes on disk, 0 if unknown).
FileCallback = Callable[[str, int], None]


class Importer:
    """Imports files into one store; keeps what it learnt about sites between files.

    Parameters
    ----------
    store : the open store to write to.
    create_sites : create sites missing from the store from the shipped station list.
    statistic, period : how the values are stored (hourly means by default).
    chunk_lines : source lines per chunk (None: :data:`DEFAULT_CHUNK_LINES` per format).
    source : the ``source`` column of the readings (default ``import:<format>:<file name>``).
    options : reader options (``hour_label=``, ``derived=`` for CNEMC, ``meteorology=`` for
        PRSA).
    """

    def __init__(
        self,
        store: Store,
        *,
        create_sites: bool = True,
        statistic: str = "avg",
        period: str = "hour",
        chunk_lines: int | None = None,
        source: str | None = None,
        options: dict[str, Any] | None = None,
        on_chunk: ChunkCallback | None = None,
        on_bad: BadCallback | None = None,
        on_file: FileCallback | None = None,
    ) -> None:
        if statistic not in STATISTICS:
            raise StoreInputError(f"unknown statistic {statistic!r}; allowed {sorted(STATISTICS)}")
        if period not in PERIODS:
            raise StoreInputError(f"unknown period {period!r}; allowed {sorted(PERIODS)}")
        self.store = store
        self.create_sites = create_sites
        self.statistic = statistic
        self.period = period
        self.chunk_lines = chunk_lines
        self.source = source
        self.options = dict(options or {})
        self.on_chunk = on_chunk
        self.on_bad = on_bad
        self.on_file = on_file
        self._registrar = Registrar(store, create_sites=create_sites)
        #: Units of the parameters outside formats.UNITS: the store's, then the first the
        #: long CSVs' parsed chunks name (the reader adds them; files are parsed a little
        #: ahead, so not always in file order), so all files convert to one unit per
        #: parameter (review 20, finding 2).
        self._units = {
            p.code: p.unit
            for p in store.parameters()
            if p.code not in formats.UNITS and p.unit and p.unit != "unknown"
        }
        #: Sites of each opened file's first chunk (set by :meth:`_open` in its thread) and
        #: the files after the one being written: their sites are created with this one's.
        self._first_sites: dict[str, list[str]] = {}
        self._ahead: list[str] = []

    # -- reading ------------------------------------------------------------------------------
    def _chunks(self, path: str, fmt: Format) -> tuple[str, Iterator[Chunk]]:
        detected = formats.detect_format(path)
        if fmt not in ("auto", detected):
            raise FormatError(
                path, 1, f"not a {fmt} file (its header is that of a {detected} file)"
            )
        lines = self.chunk_lines or DEFAULT_CHUNK_LINES[detected]
        if detected == "cnemc":
            return detected, formats.iter_cnemc(path, lines, **self.options)
        if detected == "prsa":
            return detected, formats.iter_prsa(path, lines, **self.options)
        # a long CSV's times must start the period its values are stored with (DESIGN §4;
        # the HTTP ingest's rule): an hourly value stamped 08:19 is a bad row, not an hour
        options = {"period": self.period, "units": self._units, **self.options}
        return detected, formats.iter_long_csv(path, lines, **options)

    def _write(self, path: str, chunk: Chunk, report: ImportReport, source: str) -> None:
        if not chunk.rows:
            return
        report.values += chunk.rows
        try:
            table = chunk.table
        except TypeError:  # not convertible to Arrow (naive times): the store explains
            self._write_frame(path, chunk.frame, report, source)
            return
        # the readers' dictionaries are compact (canonical.ARROW_SCHEMA)
        unknown = self._ensure_sites(distinct(table["site"], compact=True), report)
        if unknown:
            drop = dictionary_mask(table["site"], unknown)
            left_out = pc.value_counts(table.filter(drop)["site"].cast(pa.string()))
            for item in left_out.to_pylist():
                self._note_unknown(report, path, str(item["values"]), int(item["counts"]))
            table = table.filter(pc.invert(drop))
            if not table.num_rows:
                return
        parameters = distinct(table["parameter"], compact=not unknown)
        self._registrar.ensure_parameters(parameters, chunk.units, report.created_parameters)
        self._store_batch(self._batch(table), report, source)

    def _store_batch(
        self, batch: pa.Table | pd.DataFrame, report: ImportReport, source: str
    ) -> None:
        result = self.store.write_observations(batch, source=source, actor="import")
        report.inserted += result.inserted
        report.unchanged += result.unchanged
        report.corrected += result.corrected
        report.superseded += result.superseded

    def _batch(self, table: pa.Table) -> pa.Table:
        """A chunk's Arrow table (:data:`shanshui.formats.canonical.ARROW_SCHEMA`) in the
        layout the store's write path takes without conversion (its staged types, checked
        there with Arrow kernels: ``shanshui.store.batch``): ``site`` and ``parameter`` kept
        dictionary-encoded where the store takes them so (``store.batch.CODES``: it maps the
        few distinct codes to ids, not every row), other strings decoded run by run,
        statistic and period constant, ``received`` and ``source`` left to the store."""
        table = self._in_key_order(table)
        n = table.num_rows
        site, parameter = (
            table[name] if name in _STORE_CODES else plain_strings(table[name])
            for name in ("site", "parameter")
        )
        return pa.table(
            {
                "site": site,
                "parameter": parameter,
                "statistic": constant_strings(self.statistic, n),
                "period": constant_strings(self.period, n),
                "time": table["time"],
                "value": table["value"],
                "flag": plain_strings(table["flag"]),
                "received": pa.nulls(n, _TIME),
                "source": pa.nulls(n, pa.string()),
            }
        )

    def _in_key_order(self, table: pa.Table) -> pa.Table:
        """``table`` with its runs of one (site, parameter) in the order of the store's ids
        (a zero-copy concatenation of slices), so that a chunk whose runs are in time order
        reaches the store in key order, which it recognises in one pass (it sorts other
        batches to look for repeated keys). Unchanged if it is not a few such runs."""
        if table.num_rows < 2 or not all(
            pa.types.is_dictionary(table[c].type) and table[c].num_chunks == 1
            for c in ("site", "parameter")
        ):
            return table
        site, parameter = table["site"].chunk(0), table["parameter"].chunk(0)
        if site.null_count or parameter.null_count:
            return table
        si = site.indices.to_numpy(zero_copy_only=False)
        pi = parameter.indices.to_numpy(zero_copy_only=False)
        starts = np.flatnonzero((si[1:] != si[:-1]) | (pi[1:] != pi[:-1])) + 1
        if len(starts) > 4096:  # not a few runs: left to the store
            return table
        starts = np.concatenate([[0], starts])
        ends = np.append(starts[1:], table.num_rows)
        site_codes = site.dictionary.to_pylist()
        parameter_codes = parameter.dictionary.to_pylist()
        run_sites = [site_codes[i] for i in si[starts]]
        run_parameters = [parameter_codes[i] for i in pi[starts]]
        site_ids = self.store.site_ids(sorted(set(run_sites)))
        parameter_ids = self.store.parameter_ids(sorted(set(run_parameters)))
        order = sorted(
            range(len(starts)),
            key=lambda k: (site_ids[run_sites[k]], parameter_ids[run_parameters[k]], k),
        )
        if order == list(range(len(starts))):
            return table
        return pa.concat_tables(
            [table.slice(int(starts[k]), int(ends[k] - starts[k])) for k in order]
        )

    def _write_frame(
        self, path: str, frame: pd.DataFrame, report: ImportReport, source: str
    ) -> None:
        """The slow path for a frame Arrow cannot take: pandas throughout."""
        unknown = self._ensure_sites(frame["site"].unique().tolist(), report)
        if unknown:
            drop = frame["site"].isin(unknown)
            for site, n in frame.loc[drop, "site"].value_counts().items():
                self._note_unknown(report, path, str(site), int(n))
            frame = frame[~drop.to_numpy()]
            if not len(frame):
                return
        self._registrar.ensure_parameters(
            frame["parameter"].unique().tolist(),
            frame.attrs.get("units", {}),
            report.created_parameters,
        )
        batch = pd.DataFrame(
            {
                "site": frame["site"].array,
                "parameter": frame["parameter"].array,
                "statistic": self.statistic,
                "period": self.period,
                "time": frame["time"].array,
                "value": frame["value"].to_numpy(),
                "flag": frame["flag"].array,
            },
            copy=False,
        )
        self._store_batch(batch, report, source)

    def _ensure_sites(self, codes: Iterable[str], report: ImportReport) -> set[str]:
        """Create missing sites from the station list, with those of the files read ahead
        (one upsert for several files); the codes that are still unknown."""
        ahead = (c for p in self._ahead for c in self._first_sites.get(p, ()))
        return self._registrar.ensure_sites(codes, report.created_sites, ahead)

    @staticmethod
    def _note_unknown(report: ImportReport, path: str, site: str, n: int) -> None:
        for i, u in enumerate(report.unknown_sites):
            if u.file == path and u.site == site:
                report.unknown_sites[i] = UnknownSite(path, site, u.values + n)
                return
        report.unknown_sites.append(UnknownSite(path, site, n))

    def _open(self, path: str, fmt: Format) -> tuple[str, Iterator[Chunk]]:
        """Detect ``path``'s format and read its first chunk (see :meth:`import_files`);
        the format and all its chunks. FormatError if it cannot be read."""
        kind, chunks = self._chunks(path, fmt)
        guarded = _guarded(path, chunks)
        first = next(guarded, None)
        if first is not None and first.rows:
            # (the Arrow table is made here, off the writing thread, and kept; a frame that
            # does not convert is explained by the writing thread)
            with contextlib.suppress(TypeError):
                self._first_sites[path] = distinct(first.table["site"], compact=True)
        return kind, itertools.chain(() if first is None else (first,), guarded)

    def import_file(
        self,
        path: str | os.PathLike[str],
        fmt: Format = "auto",
        report: ImportReport | None = None,
        *,
        opened: Future[tuple[str, Iterator[Chunk]]] | None = None,
    ) -> ImportReport:
        """Import one file; failures to read it go into the report (never raised).

        ``opened``: the file already opened by :meth:`_open` in another thread.
        """
        report = report if report is not None else ImportReport()
        started = time.perf_counter()
        name = str(path)
        report.files += 1
        try:
            size = os.stat(name).st_size
        except OSError:
            size = 0
        if self.on_file is not None:
            self.on_file(name, size)
        try:
            kind, chunks = opened.result() if opened is not None else self._open(name, fmt)
            source = self.source or f"import:{kind}:{os.path.basename(name)}"
            for chunk in _prefetched(chunks):
                report.lines += chunk.lines
                for bad in chunk.bad:
                    report.bad_count += 1
                    if len(report.bad_rows) < MAX_KEPT_BAD:
                        report.bad_rows.append(bad)
                    if self.on_bad is not None:
                        self.on_bad(bad)
                self._write(name, chunk, report, source)
                if self.on_chunk is not None:
                    self.on_chunk(name, chunk.position, chunk.size)
        except FormatError as exc:
            report.failures.append(FileFailure(exc.file, exc.reason, exc.line))
        finally:
            report.seconds += time.perf_counter() - started
        return report

    def import_files(
        self, paths: Iterable[str | os.PathLike[str]], fmt: Format = "auto"
    ) -> ImportReport:
        """Import several files in order into one report.

        While a file is written, the next :data:`OPEN_AHEAD` are opened and their first
        chunks read, one after the other, in a thread (reading and the store's engine
        overlap; that many chunks more in memory). Sites of the files read ahead that are
        missing from the store are created together with the current file's (one upsert for
        several files).
        """
        report = ImportReport()
        names = [str(p) for p in paths]
        if names:
            self._registrar.load_ahead()
        with ThreadPoolExecutor(1, thread_name_prefix="shanshui-import-open") as pool:
            opened: dict[int, Future[tuple[str, Iterator[Chunk]]]] = {}
            for i, name in enumerate(names):
                for j in range(i, min(i + 1 + OPEN_AHEAD, len(names))):
                    if j not in opened:
                        opened[j] = pool.submit(self._open, names[j], fmt)
                self._ahead = names[i + 1 : i + 1 + OPEN_AHEAD]
                self.import_file(name, fmt, report, opened=opened.pop(i))
                self._first_sites.pop(name, None)
        self._ahead = []
        return report


def distinct(column: pa.ChunkedArray, *, compact: bool = False) -> list[str]:
    """The distinct non-null strings of a string or dictionary column. A dictionary column
    is computed on its codes (hashing integers, not strings) or, if ``compact`` (every
    dictionary value occurs, as in the readers' tables), read off its dictionaries."""
    if not pa.types.is_dictionary(column.type):
        return sorted(v for v in pc.unique(column).to_pylist() if v is not None)
    out: set[str] = set()
    for part in column.chunks:
        if compact:
            out.update(part.dictionary.to_pylist())
        else:
            used = pc.unique(part.indices).drop_null()
            out.update(part.dictionary.take(used).to_pylist())
    return sorted(out)


def dictionary_mask(column: pa.ChunkedArray, values: Iterable[str]) -> pa.ChunkedArray:
    """Whether each row of a string or dictionary column is one of ``values`` (a dictionary
    column is tested on its dictionary, then the answer taken by code)."""
    value_set = pa.array(sorted(values), pa.string())
    if not pa.types.is_dictionary(column.type):
        return pc.is_in(column, value_set=value_set)
    parts = [
        pc.take(pc.is_in(part.dictionary, value_set=value_set), part.indices).fill_null(False)
        for part in column.chunks
    ]
    return pa.chunked_array(parts, pa.bool_())


def _guarded(path: str, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks of a reader, with low-level read failures (a corrupt gzip stream, a
    vanished file) turned into :class:`FormatError` so that they fail this file only."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error, UnicodeError) as exc:
            raise FormatError(path, 0, f"cannot read: {exc}") from exc
        except (pd.errors.ParserError, pa.ArrowInvalid) as exc:  # pragma: no cover
            # the readers report unparseable lines as bad rows; should a parser still fail,
            # it fails this file only, and the later files are imported
            raise FormatError(path, 0, f"cannot parse: {exc}") from exc
        yield chunk


def _prefetched(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The same chunks, the next one read in a thread while the caller writes this one.

    Reading (pandas' parser, Arrow kernels) and writing (the store's engine) release the
    GIL for most of their work, so the two overlap. At most one chunk waits (bounded
    memory); an exception of the reader is raised here, where its chunk would have been.
    """
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(("chunk", chunk)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            put(("error", exc))

    reader = threading.Thread(target=read, name="shanshui-import-reader", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = slot.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        reader.join()


def import_files(
    store: Store,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    fmt: Format = "auto",
    **kwargs: Any,
) -> ImportReport:
    """Import file(s) of format ``fmt`` (``auto``, ``cnemc``, ``prsa``, ``long``) into ``store``.

    ``kwargs`` go to :class:`Importer` (``create_sites``, ``statistic``, ``period``,
    ``chunk_lines``, ``source``, ``options``, ``on_chunk``, ``on_bad``, ``on_file``).
    Returns the :class:`ImportReport`; files that cannot be read are in ``report.failures``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}")
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    return Importer(store, **kwargs).import_files(paths, fmt)
