"""Whether a value exceeds its limit: strictly above it (a value equal to the limit meets
it: GB 13223-2011 and the permits state limits as maxima, "不得超过"), after the arithmetic
noise of a conversion is set aside.

A value the standard makes equal to its limit can come out of floating point a hair above
it: SO2 29.0 mg/m³ at 12.3 % O2 converts (GB 13223-2011 §5.2, reference 6 %) to
29 × 15 / 8.7 = 50 exactly, computed as 50.00000000000001, and opened an exceedance alarm
against a limit of 50 (review 22, finding 6), while the same data sent as minute records
came out at 49.99999999999994. CHOICE: a value exceeds when it is above the limit by more
than :data:`RELATIVE` of the limit, far below any reporting precision (HJ 75-2017 reports
concentrations to 0.1 mg/m³ or finer) and far above the ~1e-15 of double arithmetic.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["RELATIVE", "exceeds", "exceeds_array"]

#: Relative margin over the limit under which a value counts as equal to it.
RELATIVE: Final = 1e-9


def exceeds(value: float, limit: float) -> bool:
    """Whether ``value`` is above ``limit`` (same unit) by more than arithmetic noise."""
    return value - limit > RELATIVE * abs(limit)


def exceeds_array(values: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """:func:`exceeds` element-wise; NaN values (and limits) exceed nothing."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (values - limits) > RELATIVE * np.abs(limits)
    return out
