"""Units of the parameters the gateway registers for codes it first sees.

Source: HJ 212-2017 Appendix B (pollutant code table): ambient-air SO2, NOx and CO
(ST 22) in µg/m³ (CO mg/m³); flue-gas SO2, NOx and CO (ST 31) in mg/m³.
"""

from __future__ import annotations

import pytest

from shanshui.ingest.readings import parameter_of
from shanshui.ingest.writer import parameter_for


@pytest.mark.parametrize(
    ("st", "code", "name", "unit"),
    [
        ("22", "a21026", "SO2", "µg/m³"),
        ("22", "a21002", "NOx", "µg/m³"),
        ("22", "a21005", "CO", "mg/m³"),
        ("31", "a21026", "a21026", "mg/m³"),
        ("31", "a21002", "a21002", "mg/m³"),
        ("31", "a21005", "a21005", "mg/m³"),
        ("31", "a34013", "a34013", "mg/m³"),
    ],
)
def test_the_system_code_decides_name_and_unit(st: str, code: str, name: str, unit: str) -> None:
    parameter = parameter_for(parameter_of(st, code))
    assert (parameter.code, parameter.unit) == (name, unit)
