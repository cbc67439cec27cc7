"""Reference oxygen contents and GB 13223-2011 emission limits, shipped with shanshui.

Transcribed from the standards (and checked against the project's reference tables
``reference/sources/oxygen_reference.csv`` and ``gb13223_limits.csv``; tests compare them
fact by fact):

- :data:`REFERENCE_OXYGEN` — the reference O2 content (基准氧含量) per source type:
  GB 13223-2011 §5.2 and Table 3 (thermal power: coal boilers 6 %, oil and gas boilers 3 %,
  gas turbines 15 %), GB 13271-2014 (industrial boilers: coal 9 %, oil and gas 3.5 %),
  GB 4915-2013 (cement kilns 10 %), GB 18485-2014 / GB 18484 (incinerators 11 %),
  GB 28662-2012, GB 26453-2011, GB 16171-2012 (lower confidence, marked);
- :data:`GB13223_LIMITS` — GB 13223-2011 Table 1 (general limits), Table 2 (special limits
  in key regions) and the ultra-low emission values of the 2014/2015 national programme
  (coal units: particulate 10, SO2 35, NOx 50 mg/m³ at 6 % O2).

A permit names the limit that binds each outlet; these tables are the standards' values a
permit draws from, not a substitute for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shanshui.standards.errors import StandardsError


@dataclass(frozen=True)
class ReferenceOxygen:
    """The reference O2 content of one source type.

    Attributes
    ----------
    source_type : str
    standard : str
        The emission standard that states it.
    reference_o2 : float
        [% by volume, dry flue gas].
    clause : str
    confidence : str
        ``high``, ``medium`` or ``low`` (``low``/``medium``: to verify against the text).
    """

    source_type: str
    standard: str
    reference_o2: float
    clause: str
    confidence: str


@dataclass(frozen=True)
class EmissionLimit:
    """One emission limit of GB 13223-2011 (or the ultra-low emission programme).

    Attributes
    ----------
    unit_type : str
    pollutant : str
    limit : float
        [mg/m³ at ``reference_o2``, dry, standard conditions]; flue-gas blackness in
        Ringelmann grade (``unit``).
    condition : str
        Which units the limit applies to (general/special, new/existing, region).
    reference_o2 : float or None
        [%]; None where no conversion applies (blackness).
    source : str
        Table and note of the standard.
    applies_from : str
    confidence : str
    unit : str
    """

    unit_type: str
    pollutant: str
    limit: float
    condition: str
    reference_o2: float | None
    source: str
    applies_from: str
    confidence: str
    unit: str = "mg/m³"


REFERENCE_OXYGEN: Final[tuple[ReferenceOxygen, ...]] = (
    ReferenceOxygen(
        "coal-fired boiler (thermal power plant)",
        "GB 13223-2011",
        6.0,
        "GB 13223-2011 5.2 and Table 3 (基准氧含量)",
        "high",
    ),
    ReferenceOxygen(
        "oil- or gas-fired boiler (thermal power plant)",
        "GB 13223-2011",
        3.0,
        "GB 13223-2011 5.2 and Table 3",
        "high",
    ),
    ReferenceOxygen(
        "gas turbine (thermal power plant)",
        "GB 13223-2011",
        15.0,
        "GB 13223-2011 5.2 and Table 3",
        "high",
    ),
    ReferenceOxygen(
        "coal-fired unit under ultra-low emission (超低排放)",
        "2014 action plan / 2015 work plan",
        6.0,
        "煤电节能减排升级与改造行动计划(2014-2020); "
        "全面实施燃煤电厂超低排放和节能改造工作方案(2015)",
        "high",
    ),
    ReferenceOxygen(
        "coal-fired industrial boiler",
        "GB 13271-2014",
        9.0,
        "GB 13271-2014 (基准氧含量 table)",
        "high",
    ),
    ReferenceOxygen(
        "oil- or gas-fired industrial boiler",
        "GB 13271-2014",
        3.5,
        "GB 13271-2014 (基准氧含量 table)",
        "high",
    ),
    ReferenceOxygen(
        "cement kiln and kiln-tail waste-heat system",
        "GB 4915-2013",
        10.0,
        "GB 4915-2013 (基准含氧量)",
        "medium",
    ),
    ReferenceOxygen(
        "municipal solid waste incinerator",
        "GB 18485-2014",
        11.0,
        "GB 18485-2014 (基准氧含量 11%)",
        "high",
    ),
    ReferenceOxygen(
        "hazardous waste incinerator",
        "GB 18484 (2001 and 2020 versions)",
        11.0,
        "GB 18484-2020 (to verify)",
        "medium",
    ),
    ReferenceOxygen(
        "iron and steel sintering machine head",
        "GB 28662-2012",
        16.0,
        "GB 28662-2012 (to verify)",
        "low",
    ),
    ReferenceOxygen(
        "flat glass melting furnace", "GB 26453-2011", 8.0, "GB 26453-2011 (to verify)", "low"
    ),
    ReferenceOxygen("coke-oven chimney", "GB 16171-2012", 8.0, "GB 16171-2012 (to verify)", "low"),
)

GB13223_LIMITS: Final[tuple[EmissionLimit, ...]] = (
    EmissionLimit(
        "coal-fired boiler",
        "particulate",
        30.0,
        "general limit (all)",
        6.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "SO2",
        100.0,
        "general limit: new boiler",
        6.0,
        "GB 13223-2011 Table 1",
        "2012-01-01",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "SO2",
        200.0,
        "general limit: existing boiler",
        6.0,
        "GB 13223-2011 Table 1",
        "2014-07-01",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "SO2",
        200.0,
        "general limit: new boiler in Guangxi / Chongqing / Sichuan / Guizhou",
        6.0,
        "GB 13223-2011 Table 1 note 1",
        "2012-01-01",
        "medium",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "SO2",
        400.0,
        "general limit: existing boiler in Guangxi / Chongqing / Sichuan / Guizhou",
        6.0,
        "GB 13223-2011 Table 1 note 1",
        "2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "NOx (as NO2)",
        100.0,
        "general limit (all others)",
        6.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "NOx (as NO2)",
        200.0,
        "general limit: W-flame boilers, existing CFB boilers, "
        "boilers in operation or EIA-approved before 2004-01-01",
        6.0,
        "GB 13223-2011 Table 1 note 2",
        "2014-07-01",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "Hg and compounds",
        0.03,
        "general limit (all)",
        6.0,
        "GB 13223-2011 Table 1",
        "2015-01-01",
        "high",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "particulate",
        30.0,
        "general limit (all)",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "particulate",
        30.0,
        "general limit (all)",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "SO2",
        100.0,
        "general limit: new boiler or gas turbine",
        3.0,
        "GB 13223-2011 Table 1",
        "2012-01-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "SO2",
        100.0,
        "general limit: new boiler or gas turbine",
        15.0,
        "GB 13223-2011 Table 1",
        "2012-01-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "SO2",
        200.0,
        "general limit: existing boiler or gas turbine",
        3.0,
        "GB 13223-2011 Table 1",
        "2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "SO2",
        200.0,
        "general limit: existing boiler or gas turbine",
        15.0,
        "GB 13223-2011 Table 1",
        "2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "NOx (as NO2)",
        100.0,
        "general limit: new oil-fired boiler",
        3.0,
        "GB 13223-2011 Table 1",
        "2012-01-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "NOx (as NO2)",
        200.0,
        "general limit: existing oil-fired boiler",
        3.0,
        "GB 13223-2011 Table 1",
        "2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "NOx (as NO2)",
        120.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "natural-gas boiler",
        "particulate",
        5.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "natural-gas gas turbine",
        "particulate",
        5.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "other-gas-fuel boiler",
        "particulate",
        10.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "other-gas-fuel gas turbine",
        "particulate",
        10.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "medium",
    ),
    EmissionLimit(
        "natural-gas boiler",
        "SO2",
        35.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "natural-gas gas turbine",
        "SO2",
        35.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "other-gas-fuel boiler",
        "SO2",
        100.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "other-gas-fuel gas turbine",
        "SO2",
        100.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "natural-gas boiler",
        "NOx (as NO2)",
        100.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "other-gas-fuel boiler",
        "NOx (as NO2)",
        200.0,
        "general limit",
        3.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "natural-gas gas turbine",
        "NOx (as NO2)",
        50.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "other-gas-fuel gas turbine",
        "NOx (as NO2)",
        120.0,
        "general limit",
        15.0,
        "GB 13223-2011 Table 1",
        "new 2012-01-01; existing 2014-07-01",
        "high",
    ),
    EmissionLimit(
        "all boilers and gas turbines",
        "flue-gas blackness (Ringelmann grade)",
        1.0,
        "general and special limit",
        None,
        "GB 13223-2011 Tables 1 and 2",
        "new 2012-01-01; existing 2014-07-01",
        "high",
        unit="Ringelmann grade",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "particulate",
        20.0,
        "special limit (key regions)",
        6.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement (BTH 47-city key regions: announcement 2013 No.14)",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "SO2",
        50.0,
        "special limit (key regions)",
        6.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "NOx (as NO2)",
        100.0,
        "special limit (key regions)",
        6.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "high",
    ),
    EmissionLimit(
        "coal-fired boiler",
        "Hg and compounds",
        0.03,
        "special limit (key regions)",
        6.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "high",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "particulate",
        20.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "particulate",
        20.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "SO2",
        50.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "SO2",
        50.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "oil-fired boiler",
        "NOx (as NO2)",
        100.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "oil-fired gas turbine",
        "NOx (as NO2)",
        120.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel boiler",
        "particulate",
        5.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel gas turbine",
        "particulate",
        5.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel boiler",
        "SO2",
        35.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel gas turbine",
        "SO2",
        35.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel boiler",
        "NOx (as NO2)",
        100.0,
        "special limit (key regions)",
        3.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "gas-fuel gas turbine",
        "NOx (as NO2)",
        50.0,
        "special limit (key regions)",
        15.0,
        "GB 13223-2011 Table 2",
        "per MEP announcement",
        "medium",
    ),
    EmissionLimit(
        "coal-fired unit",
        "particulate",
        10.0,
        "ultra-low emission (超低排放)",
        6.0,
        "national ultra-low emission programme (2014 action plan; 2015 work plan)",
        "eastern region by 2017; all feasible units by 2020",
        "high",
    ),
    EmissionLimit(
        "coal-fired unit",
        "SO2",
        35.0,
        "ultra-low emission (超低排放)",
        6.0,
        "national ultra-low emission programme (2014 action plan; 2015 work plan)",
        "eastern region by 2017; all feasible units by 2020",
        "high",
    ),
    EmissionLimit(
        "coal-fired unit",
        "NOx (as NO2)",
        50.0,
        "ultra-low emission (超低排放)",
        6.0,
        "national ultra-low emission programme (2014 action plan; 2015 work plan)",
        "eastern region by 2017; all feasible units by 2020",
        "high",
    ),
)


def reference_oxygen(source_type: str) -> float:
    """The reference O2 content [%] of a source type named as in :data:`REFERENCE_OXYGEN`.

    Parameters
    ----------
    source_type : str
        e.g. ``'coal-fired boiler (thermal power plant)'`` (GB 13223-2011 Table 3: 6 %).

    Returns
    -------
    float
        [% by volume].
    """
    for row in REFERENCE_OXYGEN:
        if row.source_type == source_type:
            return row.reference_o2
    known = ", ".join(r.source_type for r in REFERENCE_OXYGEN)
    raise StandardsError(f"no reference oxygen for {source_type!r}; known: {known}")
