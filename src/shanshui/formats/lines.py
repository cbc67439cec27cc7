"""Streaming of CSV files in blocks of whole lines, with exact line numbers.

Two parsers, the same results (tested against each other through the readers):

- :func:`split_lines` + :func:`parse_lines` (CNEMC, long CSV): the block is scanned with
  numpy (positions of newlines and separators) so that rows with the wrong number of fields
  are reported with their line number instead of failing the whole file or being padded
  silently, then handed to pandas' C parser; every row pandas returns maps back to its
  physical line.
- :func:`raw_lines` + :func:`arrow_cells` (PRSA): Arrow's CSV parser, one thread, typed
  columns, its invalid-row handler reporting rows with the wrong number of fields (Arrow
  numbers them among the non-blank lines; :func:`raw_lines` knows which lines are blank);
  about half the cost of pandas' parser.

Limits (documented, checked where cheap): fields must not contain newlines; a quoted field
that contains the separator is only handled on lines whose raw field count is wrong (those
are re-split with the :mod:`csv` module).

A line the parser cannot read as one record (an unclosed ``"`` makes a field swallow the
following lines, or makes the parser fail) is found by :func:`salvage` when a block does not
parse line for line, and reported as a :class:`BadRow` with its own line number; the block's
other lines are parsed without it. Blocks that parse cleanly pay nothing for this.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
from pandas.api.types import union_categoricals

from shanshui.formats.canonical import (
    COLUMNS,
    BadRow,
    Chunk,
    FormatError,
    arrow_to_frame,
    empty_frame,
    utc_to_time,
    utc_us,
)

_NL = 10
_CR = 13
_BOM = b"\xef\xbb\xbf"
_READ_BYTES = 1 << 22

#: A path, or several paths, as the readers accept them.
PathArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


@dataclass
class Source:
    """An open CSV file: its header fields and a binary stream positioned after the header."""

    path: str
    header: list[str]
    stream: BinaryIO
    raw: BinaryIO
    size: int

    def position(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for ``.gz``)."""
        return self.raw.tell()

    def close(self) -> None:
        """Close the streams."""
        self.stream.close()
        self.raw.close()


def open_source(path: str | os.PathLike[str]) -> Source:
    """Open a CSV file (``.gz`` decompressed on the fly) and read its header line.

    Raises :class:`FormatError` if the file is missing, empty or not text.
    """
    name = str(path)
    try:
        raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by Source.close
    except OSError as exc:
        raise FormatError(name, 0, f"cannot open: {exc.strerror or exc}") from exc
    size = os.fstat(raw.fileno()).st_size
    magic = raw.read(2)
    raw.seek(0)
    stream: BinaryIO = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw  # type: ignore[assignment]
    try:
        first = stream.readline()
    except (OSError, EOFError) as exc:
        raw.close()
        raise FormatError(name, 0, f"cannot read: {exc}") from exc
    if first.startswith(_BOM):
        first = first[len(_BOM) :]
    if not first.strip():
        raw.close()
        raise FormatError(name, 1, "empty file or empty header line")
    try:
        text = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raw.close()
        raise FormatError(name, 1, "header is not UTF-8 text") from exc
    header = [h.strip() for h in next(csv.reader([text]))]
    return Source(name, header, stream, raw, size)


def peek_header(path: str | os.PathLike[str]) -> list[str]:
    """The header fields of a CSV file (``.gz`` allowed)."""
    src = open_source(path)
    src.close()
    return src.header


def iter_blocks(src: Source, chunk_rows: int) -> Iterator[tuple[int, bytes, np.ndarray]]:
    """Yield ``(first_line, block, ends)``: blocks of at most ``chunk_rows`` whole lines.

    ``first_line`` is the 1-based line number of the block's first line (the header is
    line 1); ``ends`` the offsets of the block's newlines. The last block gets a final
    newline if the file lacks one.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    line = 2
    buf = b""
    eof = False
    while not eof:
        data, error = _read(src.stream, _READ_BYTES)
        eof = not data and error is None
        buf += data
        if eof and buf and not buf.endswith(b"\n"):
            buf += b"\n"
        nl = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == _NL)
        start_idx = 0
        # a read that failed half-way (a cut or corrupt .gz): the whole lines read before the
        # break are yielded, then the error names the first line not read whole
        end = eof or error is not None
        while len(nl) - start_idx >= chunk_rows or (end and len(nl) > start_idx):
            take = min(chunk_rows, len(nl) - start_idx)
            cut = int(nl[start_idx + take - 1]) + 1
            begin = 0 if start_idx == 0 else int(nl[start_idx - 1]) + 1
            yield line, buf[begin:cut], nl[start_idx : start_idx + take] - begin
            line += take
            start_idx += take
        if start_idx:
            buf = buf[int(nl[start_idx - 1]) + 1 :]
        if error is not None:
            reason = f"cannot read (corrupt file?) from this line on: {error}"
            raise FormatError(src.path, line, reason) from error


def _read(stream: BinaryIO, size: int) -> tuple[bytes, OSError | EOFError | None]:
    """Up to ``size`` bytes of ``stream`` (``b""`` at its end), and the error that stopped
    the read early. A ``.gz`` is read one decompressed buffer at a time (``read1``): one
    ``read`` of 4 MiB that met the end of a cut file lost everything it had decompressed,
    so a cut file under 4 MiB kept none of its lines (review 20, finding 4)."""
    if not isinstance(stream, gzip.GzipFile):
        try:
            return stream.read(size), None
        except (OSError, EOFError) as exc:
            return b"", exc
    parts: list[bytes] = []
    got = 0
    while got < size:
        try:
            part = stream.read1(size - got)
        except (OSError, EOFError) as exc:
            return b"".join(parts), exc
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts), None


@dataclass
class Lines:
    """The good lines of a block, ready for pandas, and the bad ones."""

    data: bytes
    """The good, non-blank lines, newline-terminated."""
    line_numbers: np.ndarray
    """Line number of each good line, in order (row i of the parse is this line)."""
    bad: list[BadRow]
    total: int
    """All lines in the block, blank and bad included."""


def _field_counts(
    arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_fields: int
) -> np.ndarray:
    """Fields per line (separators + 1), ignoring quotes."""
    commas = np.flatnonzero(arr == ord(","))
    k = n_fields - 1
    n = len(starts)
    if n and k > 0 and len(commas) == n * k:
        # fast path: if the i-th group of k commas (in file order) lies within line i for
        # every i, then every line holds exactly k commas (they are n*k in all).
        groups = commas.reshape(n, k)
        if (groups[:, 0] >= starts).all() and (groups[:, -1] < ends).all():
            return np.full(n, n_fields, dtype=np.int64)
    counts: np.ndarray = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    return counts


def _spans(
    block: bytes, first_line: int, ends: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``block`` as bytes, each line's start and end (the LF) offsets, which lines are blank
    (empty or a lone CR) and their line numbers from ``first_line``."""
    arr = np.frombuffer(block, dtype=np.uint8)
    if ends is None:
        ends = np.flatnonzero(arr == _NL)
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (arr[np.maximum(ends - 1, 0)] == _CR))
    numbers = np.arange(first_line, first_line + len(ends), dtype=np.int64)
    return arr, starts, ends, blank, numbers


def split_lines(
    path: str, first_line: int, block: bytes, n_fields: int, ends: np.ndarray | None = None
) -> Lines:
    """Check the field count of every line of ``block``; drop blank lines.

    Lines with another field count become :class:`BadRow` (with their line number).
    Blank lines are skipped silently (a trailing empty line is common and harmless).
    """
    arr, starts, ends, blank, numbers = _spans(block, first_line, ends)
    fields = _field_counts(arr, starts, ends, n_fields)
    wrong = (fields != n_fields) & ~blank
    bad: list[BadRow] = []
    if wrong.any():
        for i in np.flatnonzero(wrong):
            text = block[starts[i] : ends[i]]
            count = int(fields[i])
            if b'"' in text:  # a quoted separator: count fields the csv way
                try:
                    count = len(next(csv.reader([text.decode("utf-8", "replace")])))
                except csv.Error:
                    count = -1
                if count == n_fields:
                    wrong[i] = False
                    continue
            bad.append(BadRow(path, int(numbers[i]), f"expected {n_fields} fields, found {count}"))
    keep = ~(wrong | blank)
    if keep.all():
        data = block
    else:
        idx = np.flatnonzero(keep)
        data = b"".join(block[starts[i] : ends[i] + 1] for i in idx)
    return Lines(data, numbers[keep], bad, len(ends))


def raw_lines(first_line: int, block: bytes, ends: np.ndarray | None = None) -> Lines:
    """The lines of ``block`` unchecked, for a parser that checks field counts itself
    (:func:`arrow_cells`): ``line_numbers`` holds the non-blank lines (the parser reports and
    removes the bad ones). Blank lines are skipped silently, as :func:`split_lines` does."""
    _, _, ends, blank, numbers = _spans(block, first_line, ends)
    return Lines(block, numbers[~blank] if blank.any() else numbers, [], len(ends))


_QUOTE = ord('"')

#: ``records(data)``: how many records (rows, including rows a parser skips for their field
#: count) a CSV parser makes of ``data``; -1 when it fails.
RecordCounter = Callable[[bytes], int]


def _drop(
    lines: Lines, failed: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray
) -> None:
    """Keep in ``lines`` the rows not ``failed`` (``rows``: the non-blank lines' indices into
    ``starts``/``ends``, as :func:`_spans` gives them), with their line numbers."""
    keep = np.flatnonzero(~failed)
    data = lines.data
    lines.data = b"".join(data[starts[i] : ends[i] + 1] for i in rows[keep])
    lines.line_numbers = lines.line_numbers[keep]


def salvage(path: str, lines: Lines, n_fields: int, records: RecordCounter) -> list[BadRow]:
    """Remove from ``lines`` the lines that the parser cannot read as one record each, and
    return them as bad rows (with their own line numbers).

    Called when a block does not parse line for line (its record count differs from its
    line count, or the parser fails). An unclosed quoted field is the usual cause (RFC 4180
    §2: a ``"`` opens a field that only another ``"`` closes; fields here cannot span lines),
    so the lines with an odd number of ``"`` are tried first, together and, while they still
    fail, in halves down to the single lines that fail; then the remaining lines the same
    way (a line that reads as one record alone reads the same among others: the parser
    starts each such line in the same state). ``n_fields``: fields per line; ``records``: see
    :data:`RecordCounter`.
    """
    arr, starts, ends, blank, _ = _spans(lines.data, 0, None)
    rows = np.flatnonzero(~blank)  # row k (non-blank line) is lines.line_numbers[k]
    if len(rows) != len(lines.line_numbers):  # pragma: no cover - Lines holds them so
        raise ValueError("lines and their numbers disagree")
    data = lines.data
    # a line of empty fields after the lines tried: an open quote swallows it too, where a
    # parser forgives a quote left open at the end of its input
    sentinel = b"," * (n_fields - 1) + b"\n"

    def reads(ks: np.ndarray) -> bool:
        part = b"".join(data[starts[i] : ends[i] + 1] for i in rows[ks])
        return records(part + sentinel) == len(ks) + 1

    quotes = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == _QUOTE)), minlength=len(ends))
    odd = (quotes[rows] % 2).astype(bool)
    failed = np.zeros(len(rows), dtype=bool)

    def bisect(ks: np.ndarray) -> None:
        """Mark the lines of ``ks`` that fail: a group that reads is fine as a whole, one that
        does not is split in halves (a few bad lines cost a few reads per halving, not one
        read per line: a file whose every name holds a ``"`` has many odd lines)."""
        pending = [ks]
        while pending:
            part = pending.pop()
            if not len(part) or reads(part):
                continue
            if len(part) == 1:
                failed[part[0]] = True
                continue
            half = len(part) // 2
            pending += [part[half:], part[:half]]

    bisect(np.flatnonzero(odd))  # the usual culprits first, then the rest without them
    bisect(np.flatnonzero(~failed & ~odd))
    bad = [
        BadRow(
            path,
            int(lines.line_numbers[k]),
            "unclosed double quote: a quoted field must end on its own line"
            if odd[k]
            else "cannot be read as CSV: its quotes leave a field open",
        )
        for k in np.flatnonzero(failed)
    ]
    _drop(lines, failed, starts, ends, rows)
    return bad


def drop_undecodable(path: str, lines: Lines) -> list[BadRow]:
    """Remove from ``lines`` the lines that are not UTF-8 text, and return them as bad rows.

    The readers decode UTF-8 (the header is checked at open); one GBK cell (a station name
    saved by a Chinese-locale spreadsheet) made the CSV parser fail the whole block, and with
    it every good line of a file read in one block (review 20, finding 3). An ASCII block,
    the usual one, costs one pass of ``bytes.isascii``.
    """
    data = lines.data
    if data.isascii():
        return []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return []
    arr, starts, ends, blank, _ = _spans(data, 0, None)
    rows = np.flatnonzero(~blank)  # row k (non-blank line) is lines.line_numbers[k]
    high = np.unique(np.searchsorted(ends, np.flatnonzero(arr >= 0x80)))  # lines, not rows
    failed = np.zeros(len(rows), dtype=bool)
    bad = []
    for i in high:
        try:
            data[starts[i] : ends[i]].decode("utf-8")
        except UnicodeDecodeError as exc:
            k = int(np.searchsorted(rows, i))  # a line with bytes is not blank
            failed[k] = True
            byte = data[starts[i] + exc.start]
            reason = (
                f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start} of the "
                "line): save the file as UTF-8"
            )
            bad.append(BadRow(path, int(lines.line_numbers[k]), reason))
    _drop(lines, failed, starts, ends, rows)
    return bad


@dataclass
class Parsed:
    """Cells of the good lines: text columns as object arrays, numbers as one 2-D array."""

    text: dict[str, pd.Series]
    """Text columns as pandas ``str`` (or categorical) Series (NaN = empty), index 0..rows-1."""
    numbers: np.ndarray
    """float64, shape (rows, len(numeric)); NaN = no value (or a cell reported as bad)."""
    bad: list[BadRow]


def parse_lines(
    path: str,
    lines: Lines,
    names: list[str],
    numeric: list[str],
    categorical: bool = False,
) -> Parsed:
    """Parse the good lines with pandas' C parser: ``numeric`` columns as float64, others str.

    A cell that is not a number (or is infinite) becomes NaN and is reported as a
    :class:`BadRow` naming its column; the rest of its line is kept. Row ``i`` of the result
    is line ``lines.line_numbers[i]``.
    """
    num = set(numeric)
    text_cols = [c for c in names if c not in num]
    bad: list[BadRow] = []

    def empty() -> Parsed:
        text = {c: pd.Series([], dtype="str") for c in text_cols}
        return Parsed(text, np.empty((0, len(numeric))), bad)

    bad += drop_undecodable(path, lines)
    if not lines.data:
        return empty()

    def read() -> pd.DataFrame | None:
        # numeric columns are inferred by the C parser (cheaper than a dtype per column); a
        # column that does not come out numeric holds a cell that is not a number.
        try:
            frame = pd.read_csv(
                io.BytesIO(lines.data),
                header=None,
                names=names,
                dtype=dict.fromkeys(text_cols, "category" if categorical else str),
                # "no value": pandas' default NA set (empty, NA as the PRSA files write it,
                # NaN, nan, N/A, n/a, NULL, null, None, #N/A, ...); a custom set costs ~40 %
                # more time.
                keep_default_na=True,
                engine="c",
                skip_blank_lines=False,
            )
        except pd.errors.ParserError:  # e.g. "EOF inside string": an unclosed quote
            return None
        return frame if len(frame) == len(lines.line_numbers) else None

    frame = read()
    if frame is None:  # a line is not one record: report it, parse the others
        bad += salvage(path, lines, len(names), _pandas_records(names))
        if not lines.data:
            return empty()
        frame = read()
        if frame is None:  # pragma: no cover - salvage leaves only lines that parse
            raise FormatError(path, int(lines.line_numbers[0]), "cannot be read as CSV")
    kinds = frame.dtypes
    for c in numeric:
        if kinds[c].kind in "fiub":
            continue
        cells = frame[c]
        values = pd.to_numeric(cells, errors="coerce").astype(np.float64)
        broken = values.isna().to_numpy() & cells.notna().to_numpy()
        for i in np.flatnonzero(broken):
            reason = f"column {c}: {cells.iloc[i]!r} is not a number"
            bad.append(BadRow(path, int(lines.line_numbers[i]), reason))
        frame[c] = values
    positions = [names.index(c) for c in numeric]
    numbers: np.ndarray = frame.iloc[:, positions].to_numpy(dtype=np.float64)
    inf = np.isinf(numbers)
    if inf.any():
        if not numbers.flags.writeable:  # one column: a read-only view of the frame's
            numbers = numbers.copy()
        for i, j in zip(*np.nonzero(inf), strict=True):
            bad.append(BadRow(path, int(lines.line_numbers[i]), f"column {numeric[j]}: infinite"))
        numbers[inf] = np.nan
    text = {c: frame[c] for c in text_cols}
    bad.sort(key=lambda b: b.line)
    return Parsed(text, numbers, bad)


def _pandas_records(names: list[str]) -> RecordCounter:
    """Records pandas' C parser makes of some lines (as :func:`parse_lines` calls it)."""

    def records(data: bytes) -> int:
        try:
            frame = pd.read_csv(
                io.BytesIO(data),
                header=None,
                names=names,
                dtype=str,
                na_filter=False,
                engine="c",
                skip_blank_lines=False,
            )
        except pd.errors.ParserError:
            return -1
        return len(frame)

    return records


#: pandas' default "no value" strings (``pandas.read_csv``'s ``keep_default_na``), so that
#: the Arrow parser reads the same cells as missing as the pandas one.
NA_STRINGS: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


@dataclass
class ArrowCells:
    """Cells of the good lines parsed by Arrow: text columns as Arrow arrays, numbers as one
    2-D array."""

    text: dict[str, pa.Array]
    """Text columns as Arrow dictionary arrays of strings (null = no value), row i = line i
    (dictionary-encoded by the parser: a column of few distinct values costs no strings)."""
    numbers: np.ndarray
    """float64, shape (len(numeric), rows) — column-major; NaN = no value (or a bad cell)."""
    bad: list[BadRow]


def _arrow_read(
    data: bytes,
    names: list[str],
    types: dict[str, pa.DataType],
    on_invalid: Callable[[Any], str] | None = None,
) -> pa.Table:
    """Arrow's CSV parser on ``data``: the columns of ``types`` (others are checked for
    their count but not converted)."""
    return pa_csv.read_csv(
        pa.py_buffer(data),
        read_options=pa_csv.ReadOptions(
            column_names=names,
            # one thread: the import's writer thread uses the other core, small blocks
            # gain nothing from a hand-off, and with one thread Arrow numbers invalid rows
            use_threads=False,
            block_size=max(1 << 20, len(data) + 1),
        ),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False, invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=list(NA_STRINGS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _arrow_records(names: list[str]) -> RecordCounter:
    """Records Arrow's parser makes of some lines (as :func:`arrow_cells` calls it)."""

    def records(data: bytes) -> int:
        skipped = 0

        def on_invalid(row: Any) -> str:
            nonlocal skipped
            skipped += 1
            return "skip"

        try:
            table = _arrow_read(data, names, {names[0]: pa.string()}, on_invalid)
        except pa.ArrowInvalid:
            return -1
        return int(table.num_rows) + skipped

    return records


def arrow_cells(
    path: str, lines: Lines, names: list[str], numeric: list[str], skip: tuple[str, ...] = ()
) -> ArrowCells:
    """Parse lines with Arrow's CSV reader: ``numeric`` columns as float64, the others as
    strings. Same results as :func:`split_lines` + :func:`parse_lines` at about half their
    cost: a line with another number of fields than ``names`` is a :class:`BadRow` (and is
    removed from ``lines.line_numbers``, which ``lines`` from :func:`raw_lines` or
    :func:`split_lines` hold); the same "no value" strings; a cell that is not a number, or
    is infinite, becomes NaN and a :class:`BadRow` naming its column, the rest of its line
    is kept. Row ``i`` of the result is line ``lines.line_numbers[i]`` afterwards.
    ``skip``: columns not converted at all (neither numbers nor text; counted as fields).
    """
    num = set(numeric)
    text_cols = [c for c in names if c not in num and c not in skip]
    bad: list[BadRow] = []
    invalid: list[tuple[int, int]] = []  # (n-th non-blank line, 1-based; fields found)

    def on_invalid(row: Any) -> str:
        invalid.append((int(row.number), int(row.actual_columns)))
        return "skip"

    types: dict[str, pa.DataType] = dict.fromkeys(numeric, pa.string())
    types.update(dict.fromkeys(text_cols, pa.dictionary(pa.int32(), pa.string())))

    def read() -> pa.Table | None:
        invalid.clear()
        try:
            table = _arrow_read(
                lines.data, names, {**types, **dict.fromkeys(numeric, pa.float64())}, on_invalid
            )
        except pa.ArrowInvalid:
            # a cell is not a number (Arrow fails the whole column): read the numbers as
            # text and convert column by column, cell by cell where a column does not convert
            invalid.clear()
            try:
                table = _arrow_read(lines.data, names, types, on_invalid)
            except pa.ArrowInvalid:
                return None
        # every line one record (a row, or a row skipped for its field count)
        return table if table.num_rows + len(invalid) == len(lines.line_numbers) else None

    table: pa.Table | None = None
    bad += drop_undecodable(path, lines)
    if lines.data:
        table = read()
        if table is None:  # a line is not one record: report it, parse the others
            bad += salvage(path, lines, len(names), _arrow_records(names))
            if lines.data:
                table = read()
                if table is None:  # pragma: no cover - salvage leaves lines that parse
                    raise FormatError(path, int(lines.line_numbers[0]), "cannot be read as CSV")
    if invalid:
        at = np.array([k - 1 for k, _ in invalid], dtype=np.int64)
        for k, (_, found) in zip(at, invalid, strict=True):
            reason = f"expected {len(names)} fields, found {found}"
            bad.append(BadRow(path, int(lines.line_numbers[k]), reason))
        lines.line_numbers = np.delete(lines.line_numbers, at)
    rows = len(lines.line_numbers)
    matrix = np.empty((len(numeric), rows), dtype=np.float64)
    if table is None:
        empty = pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
        return ArrowCells(dict.fromkeys(text_cols, empty), matrix, bad)
    for j, c in enumerate(numeric):
        column = table[c]
        if column.type != pa.float64():
            try:
                column = column.cast(pa.float64())
            except pa.ArrowInvalid:
                cells = column.to_pandas()
                values = pd.to_numeric(cells, errors="coerce").astype(np.float64)
                broken = values.isna().to_numpy() & cells.notna().to_numpy()
                for i in np.flatnonzero(broken):
                    reason = f"column {c}: {cells.iloc[i]!r} is not a number"
                    bad.append(BadRow(path, int(lines.line_numbers[i]), reason))
                column = pa.chunked_array([pa.array(values.to_numpy(), pa.float64())])
        matrix[j] = column.to_numpy()  # nulls come out as NaN
    inf = np.isinf(matrix)
    if inf.any():
        for j, i in zip(*np.nonzero(inf), strict=True):
            bad.append(BadRow(path, int(lines.line_numbers[i]), f"column {numeric[j]}: infinite"))
        matrix[inf] = np.nan
    text = {c: table[c].unify_dictionaries().combine_chunks() for c in text_cols}
    bad.sort(key=lambda b: b.line)
    return ArrowCells(text, matrix, bad)


#: Turns the good lines of one block into (canonical long table, bad rows); the table as a
#: pandas frame or as an Arrow table of :data:`~shanshui.formats.canonical.ARROW_SCHEMA`.
BlockParser = Callable[[Lines], tuple[pd.DataFrame | pa.Table, list[BadRow]]]


def iter_source(
    path: str | os.PathLike[str],
    chunk_rows: int,
    make_parser: Callable[[Source], BlockParser],
    *,
    categorical: bool = False,
    checked: bool = True,
) -> Iterator[Chunk]:
    """Drive a reader: open ``path``, let ``make_parser`` check the header, parse each block.

    ``categorical``: how the chunks turn an Arrow table into a frame (see :class:`Chunk`).
    ``checked``: hand the parser lines whose field count is checked (:func:`split_lines`);
    False for a parser that checks them itself (:func:`raw_lines`, :func:`arrow_cells`).
    """
    src = open_source(path)
    try:
        parse = make_parser(src)
        for first, block, ends in iter_blocks(src, chunk_rows):
            lines = (
                split_lines(src.path, first, block, len(src.header), ends)
                if checked
                else raw_lines(first, block, ends)
            )
            good, bad = parse(lines)
            bad_rows = sorted(lines.bad + bad, key=lambda b: b.line)
            frame, table = (None, good) if isinstance(good, pa.Table) else (good, None)
            yield Chunk(
                src.path,
                frame,
                bad_rows,
                src.position(),
                src.size,
                lines.total,
                table=table,
                categorical=categorical,
            )
    finally:
        src.close()


def collect(chunks: Iterable[Chunk], errors: str) -> pd.DataFrame:
    """Concatenate chunks; ``errors="raise"`` raises :class:`FormatError` at the first bad row,
    ``errors="skip"`` leaves bad rows out."""
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    kept: list[Chunk] = []
    units: dict[str, str] = {}
    for chunk in chunks:
        if chunk.bad and errors == "raise":
            raise FormatError.from_bad_row(chunk.bad[0])
        units.update(chunk.units)
        if chunk.rows:
            kept.append(chunk)
    if kept and all(c.from_table for c in kept):  # one conversion of all the Arrow tables
        table = pa.concat_tables([c.table for c in kept])
        out = arrow_to_frame(table, kept[0].categorical)
    else:
        out = concat_frames([c.frame for c in kept])
    out.attrs = {"units": units} if units else {}
    return out


def _arrow(column: pd.Series) -> pa.ChunkedArray:
    """The Arrow data behind a ``str`` column (the Arrow C data protocol; no copy)."""
    data = column.array.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate canonical tables column by column (strings as chunked Arrow, no copy)."""
    if not frames:
        return empty_frame()
    if len(frames) == 1:
        return frames[0]
    columns: dict[str, Any] = {}
    for name in ("site", "parameter", "flag"):
        if all(isinstance(f[name].dtype, pd.CategoricalDtype) for f in frames):
            columns[name] = union_categoricals([f[name].array for f in frames])
            continue
        chunks = [
            c if c.type == pa.large_string() else c.cast(pa.large_string())
            for f in frames
            for c in _arrow(f[name].astype("str")).chunks
        ]
        columns[name] = pd.array(pa.chunked_array(chunks, pa.large_string()), dtype="str")
    columns["time"] = utc_to_time(np.concatenate([utc_us(f["time"]) for f in frames]))
    columns["value"] = np.concatenate([f["value"].to_numpy() for f in frames])
    return pd.DataFrame({c: columns[c] for c in COLUMNS}, copy=False)


def as_paths(path: PathArg) -> list[str | os.PathLike[str]]:
    """One path, or several (any iterable of paths), as a list."""
    if isinstance(path, str | os.PathLike):
        return [path]
    return list(path)
