"""Format detection by header, and the format-independent entry points."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal

import pandas as pd

from shanshui.formats.canonical import Chunk, FormatError
from shanshui.formats.cnemc import is_cnemc_header, iter_cnemc, read_cnemc
from shanshui.formats.lines import PathArg, as_paths, collect, peek_header
from shanshui.formats.longcsv import is_long_header, iter_long_csv
from shanshui.formats.prsa import is_prsa_header, iter_prsa

Format = Literal["cnemc", "prsa", "long"]


def detect_format(path: str | os.PathLike[str]) -> Format:
    """``"cnemc"``, ``"prsa"`` or ``"long"`` from the header line; :class:`FormatError` else."""
    header = peek_header(path)
    if is_cnemc_header(header):
        return "cnemc"
    if is_prsa_header(header):
        return "prsa"
    if is_long_header(header):
        return "long"
    shown = ",".join(header[:8]) + (",…" if len(header) > 8 else "")
    raise FormatError(path, 1, f"unknown format (header {shown})")


def iter_chunks(
    path: str | os.PathLike[str], chunk_rows: int = 100_000, **options: Any
) -> Iterator[Chunk]:
    """Stream any supported file: chunks of good rows (canonical) plus bad rows with lines.

    ``chunk_rows`` counts source lines (for a CNEMC file one line holds ~2,000 values).
    ``options`` go to the format's reader (``derived=``, ``meteorology=``, ``hour_label=``).
    """
    fmt = detect_format(path)
    if fmt == "cnemc":
        return iter_cnemc(path, max(1, chunk_rows // 1000), **options)
    if fmt == "prsa":
        return iter_prsa(path, chunk_rows, **options)
    return iter_long_csv(path, chunk_rows, **options)


def read_any(
    path: PathArg, *, errors: Literal["raise", "skip"] = "raise", **options: Any
) -> pd.DataFrame:
    """Read file(s) of any supported format (detected per file) into the canonical table."""
    paths = as_paths(path)
    if len(paths) == 1 and detect_format(paths[0]) == "cnemc":
        return read_cnemc(paths[0], errors=errors, **options)
    return collect((c for p in paths for c in iter_chunks(p, 1 << 20, **options)), errors)
