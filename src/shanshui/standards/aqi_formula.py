"""HJ 633-2012 §4.2 formula (1) on the columns of Table 1: the segment tables and two
evaluations of them, a compiled loop and numpy.

:func:`raw_iaqi` is the one entry point (used by :mod:`shanshui.standards.aqi`). It runs the
compiled loop of ``_aqi_kernel.c`` (built by ``setup.py``) where it is installed and the
numpy version :func:`raw_iaqi_numpy` otherwise; the numpy version is the source of truth
and ``tests/test_aqi_kernel.py`` holds the two equal value for value.

The value returned is formula (1) scaled by :data:`SHRINK`, not yet rounded up (进位取整 is
the caller's ``np.ceil``): an interpolated value less than a relative 1e-9 above an integer
then still rounds up to that integer, so that binary floating point (``50.00000000000001``
for 35 µg/m³ PM2.5) cannot push an exact breakpoint to the next integer (see the docstring
of :mod:`shanshui.standards.aqi`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from shanshui.standards.aqi_tables import BREAKPOINTS, IAQI_LEVELS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Formula (1) is scaled by this before rounding up (see the module docstring).
SHRINK: Final = 1.0 - 1e-9


class Column:
    """One Table 1 column as segments, formula (1) written ``slope * C + intercept``.

    Segment codes: 0 = negative or missing (no IAQI), 1 … m = the Table 1 segments
    (BP_Lo < C <= BP_Hi; the first one includes 0), m + 1 = above the top breakpoint.
    ``slope`` and ``intercept`` have one entry per code (already scaled by :data:`SHRINK`),
    ``upper`` the m upper breakpoints [µg/m³; CO mg/m³].
    """

    def __init__(self, key: str) -> None:
        conc = np.asarray(BREAKPOINTS[key], dtype=np.float64)
        levels = np.asarray(IAQI_LEVELS[: len(conc)], dtype=np.float64)
        # formula (1): IAQI = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) * (C - BP_Lo) + IAQI_Lo
        slope = np.diff(levels) / np.diff(conc)
        intercept = levels[:-1] - slope * conc[:-1]
        # above the top breakpoint: 500 where Table 1 reaches IAQI 500; none (NaN) where the
        # column stops early (SO2 1-hour, O3 8-hour: Table 1's notes say what replaces them)
        above = np.nan if levels[-1] < IAQI_LEVELS[-1] else float(IAQI_LEVELS[-1])
        # both scaled by SHRINK: rounding up then forgives binary floating-point noise
        self.slope: FloatArray = np.concatenate([[0.0], slope, [0.0]]) * SHRINK
        self.intercept: FloatArray = np.concatenate([[np.nan], intercept, [above]]) * SHRINK
        self.upper: FloatArray = np.ascontiguousarray(conc[1:])  # segment tops, then the top


#: Every Table 1 column, by ``<pollutant>_<period>``.
COLUMNS: Final = {key: Column(key) for key in BREAKPOINTS}


class Work:
    """Scratch arrays of the numpy version for ``n`` values, reused from column to column."""

    def __init__(self, n: int) -> None:
        padded = -(-n // 8) * 8
        # uint8 segment codes and compare results, padded to whole 8-byte words (zeros): the
        # codes are summed eight at a time as uint64 words; a code is at most 8, so no byte
        # carries over into its neighbour
        self.code = np.zeros(padded, dtype=np.uint8)
        self.step = np.zeros(padded, dtype=np.bool_)
        self.code64 = self.code.view(np.uint64)
        self.step64 = self.step.view(np.uint64)
        self.index = np.empty(n, dtype=np.intp)
        self.term = np.empty(n, dtype=np.float64)
        self.n = n


def raw_iaqi_numpy(conc: FloatArray, key: str, work: Work | None = None) -> FloatArray:
    """Formula (1) times :data:`SHRINK`, not yet rounded up, as a new array (numpy).

    Parameters
    ----------
    conc : numpy.ndarray of float64
        Concentrations [µg/m³; CO mg/m³], any shape; NaN = missing.
    key : str
        The Table 1 column, ``<pollutant>_<period>`` (a key of :data:`COLUMNS`).
    work : Work, optional
        Scratch arrays for ``conc.size`` values, to reuse across calls.

    Returns
    -------
    numpy.ndarray of float64
        Same shape: NaN where ``conc`` is missing, negative or +inf, or above the top of a
        column that stops early (SO2 1-hour, O3 8-hour); 500 × SHRINK above the top of the
        others.
    """
    col = COLUMNS[key]
    flat = conc.reshape(-1)
    n = len(flat)
    if work is None or work.n != n:
        work = Work(n)
    code = work.code[:n]
    work.code64[-1:] = 0  # the padding bytes of the last word (see Work)
    # segment code (see Column): 1 for C >= 0, plus one per breakpoint below C (a breakpoint
    # closes its segment); NaN compares false everywhere and gets code 0 (no IAQI)
    np.greater_equal(flat, 0.0, out=code.view(np.bool_))
    for bp in col.upper:
        np.greater(flat, bp, out=work.step[:n])
        np.add(work.code64, work.step64, out=work.code64)
    np.copyto(work.index, code)  # one cast to intp for both take()s
    out = col.slope.take(work.index)
    with np.errstate(invalid="ignore"):  # +inf: 0 * inf = NaN, meant (no IAQI)
        out *= flat
    # formula (1) times SHRINK
    out += col.intercept.take(work.index, out=work.term, mode="wrap")  # codes are in range
    return out.reshape(conc.shape)


_Kernel = Callable[[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, bool], None]
_IntKernel = Callable[[FloatArray, FloatArray, FloatArray, FloatArray, IntArray], None]


def _load_kernels() -> tuple[_Kernel, _IntKernel] | tuple[None, None]:
    """The compiled loops of ``_aqi_kernel.c``, or None where they were not built."""
    try:
        module = importlib.import_module("shanshui.standards._aqi_kernel")
    except ImportError:  # no C compiler at install time: setup.py left it out
        return None, None
    kernel: _Kernel = module.raw_iaqi
    int_kernel: _IntKernel = module.int_iaqi
    return kernel, int_kernel


#: The compiled formula (1) (:func:`raw_iaqi`) and the compiled :func:`int_iaqi`, or None
#: (then numpy alone computes them).
KERNEL, INT_KERNEL = _load_kernels()


def raw_iaqi(
    conc: FloatArray,
    key: str,
    out: FloatArray | None = None,
    *,
    accumulate: bool = False,
    work: Work | None = None,
) -> FloatArray:
    """Formula (1) times :data:`SHRINK`, not yet rounded up: :func:`raw_iaqi_numpy`, faster.

    Parameters
    ----------
    conc : numpy.ndarray of float64
        Concentrations [µg/m³; CO mg/m³], one dimension; NaN = missing.
    key : str
        The Table 1 column (a key of :data:`COLUMNS`).
    out : numpy.ndarray of float64, optional
        Where to write (a new array if None); the same length as ``conc``, not ``conc``.
    accumulate : bool
        False: ``out`` = the raw IAQI. True: ``out = np.fmax(out, raw IAQI)`` — the running
        maximum of HJ 633-2012 §4 formula (2), a missing (NaN) IAQI left out.
    work : Work, optional
        Scratch arrays for the numpy version.

    Returns
    -------
    numpy.ndarray of float64
        ``out``.
    """
    conc = np.ascontiguousarray(conc, dtype=np.float64)
    if KERNEL is None:
        raw = raw_iaqi_numpy(conc, key, work)
        if out is None:
            return raw
        if accumulate:
            return np.fmax(out, raw, out=out)
        out[...] = raw
        return out
    col = COLUMNS[key]
    if out is None:
        out = np.empty(len(conc), dtype=np.float64)
    KERNEL(conc, col.slope, col.intercept, col.upper, out, accumulate)
    return out


def int_iaqi_numpy(conc: FloatArray, key: str) -> IntArray:
    """The IAQI rounded up (进位取整) as int64, -1 where there is none (numpy).

    :func:`raw_iaqi_numpy`, rounded up; -1 stands for a missing IAQI (NaN), as a sentinel
    that no IAQI (0–500) takes.
    """
    raw = raw_iaqi_numpy(conc, key)
    np.ceil(raw, out=raw)
    raw[np.isnan(raw)] = -1.0
    return raw.astype(np.int64)


def int_iaqi(conc: FloatArray, key: str) -> IntArray:
    """:func:`int_iaqi_numpy`, faster where the compiled loop is built.

    Parameters
    ----------
    conc : numpy.ndarray of float64
        Concentrations [µg/m³; CO mg/m³], one dimension; NaN = missing.
    key : str
        The Table 1 column (a key of :data:`COLUMNS`).

    Returns
    -------
    numpy.ndarray of int64
        The IAQI [-] rounded up; -1 where there is none (missing, negative or +inf
        concentration; above the top of SO2 1-hour or O3 8-hour).
    """
    conc = np.ascontiguousarray(conc, dtype=np.float64)
    if INT_KERNEL is None:
        return int_iaqi_numpy(conc, key)
    col = COLUMNS[key]
    out = np.empty(len(conc), dtype=np.int64)
    INT_KERNEL(conc, col.slope, col.intercept, col.upper, out)
    return out
