"""Stationary-source emissions (HJ 75-2017 and related) as pure, vectorized functions.

What a CEMS (continuous emission monitoring system, 烟气排放连续监测系统) reports is turned
into the quantities that permits and emission standards speak of:

- reference-oxygen conversion (折算浓度): :func:`reference_oxygen_conversion`
  (GB 13223-2011 §5.2, GB 13271-2014, HJ 75-2017); reference O2 per source type in
  :data:`shanshui.standards.emissions_tables.REFERENCE_OXYGEN`;
- measurement conditions: :func:`standard_conditions` (actual → 273.15 K, 101.325 kPa),
  :func:`dry_basis` (wet → dry), :func:`ppm_to_mg_m3` (M / 22.4), :func:`nox_as_no2`;
- flue-gas flow: :func:`dry_standard_flow` (velocity, area, temperature, pressure,
  humidity → m³/h, GB/T 16157-1996 / HJ 75-2017) and :func:`flow_m3s_to_m3h` (HJ 212 a00000);
- emission rate and mass: :func:`emission_rate` [kg/h] and :func:`wastewater_load` [kg];
- validity, substitution and totals: :mod:`shanshui.standards.emissions_periods`.

The data flags of HJ 212-2017 §6.6 (Table 6) and the cases of HJ 75-2017 §12 they stand for
are mapped ONCE, here (:data:`FLAG_CASE`), and every module of shanshui uses this mapping:

====  ==========================================  ==================  =====================
flag  HJ 212-2017 Table 6                         HJ 75-2017 §12      treatment
====  ==========================================  ==================  =====================
N     instrument working normally                 valid data          enters statistics and
                                                                      exceedance checks
F     instrument stopped (2005: source stopped)   stop (停运)         no emission counted,
                                                                      no exceedance
M     maintenance                                 maintenance         invalid; mass
                                                                      substituted
C     calibration                                 calibration         invalid; substituted
D     fault                                       fault (故障)        invalid; substituted
T     above the measuring range                   out of control      invalid; substituted
B     instrument–logger communication failure     missing data        invalid; substituted
S     manually set value                          not measured        invalid; substituted
====  ==========================================  ==================  =====================

Choices written down: F is read as the source being stopped (HJ/T 212-2005 names it 排放源
停运 and CEMS loggers send it while the unit is off, although the 2017 text says "instrument
stopped"); T, B and S are invalid (only N is valid, HJ 212-2017 Table 6 and the project's
convention) and HJ 75-2017 §12 substitutes the mass of every invalid hour alike (confidence
medium, see :mod:`~shanshui.standards.emissions_periods`).

Inputs may be scalars, numpy arrays or pandas Series (anything numpy broadcasts); results are
float64 arrays (0-d for scalar inputs: ``float(x)`` unwraps them) with NaN where a formula
is not defined for the input (the guard is stated in each docstring).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shanshui.standards.errors import StandardsError

FloatArray = NDArray[np.float64]

FlagCase = Literal["valid", "stopped", "invalid"]

#: HJ 212-2017 Table 6 data flag → HJ 75-2017 §12 case (see the module docstring's table).
FLAG_CASE: Final[dict[str, FlagCase]] = {
    "N": "valid",
    "F": "stopped",
    "M": "invalid",
    "C": "invalid",
    "D": "invalid",
    "T": "invalid",
    "B": "invalid",
    "S": "invalid",
}
#: Flags whose values are valid (HJ 212-2017 Table 6; HJ 75-2017 §12): only N.
VALID_FLAGS: Final[frozenset[str]] = frozenset(f for f, c in FLAG_CASE.items() if c == "valid")
#: Flags meaning the source is stopped (停运): no emission is counted (HJ 75-2017 §12).
STOPPED_FLAGS: Final[frozenset[str]] = frozenset(f for f, c in FLAG_CASE.items() if c == "stopped")
#: Flags of invalid hours whose mass is substituted (HJ 75-2017 §12; confidence medium).
INVALID_FLAGS: Final[frozenset[str]] = frozenset(f for f, c in FLAG_CASE.items() if c == "invalid")

#: Oxygen in dry air [% by volume]: the 21 of the conversion formula (GB 13223-2011 §5.2).
O2_AIR: Final = 21.0
#: Measured O2 at or above which the conversion is not computed [%]. Choice: the factor
#: (21 − O2_ref)/(21 − O2) diverges as O2 → 21 and a flue gas at ≥ 20.9 % O2 is ambient air
#: (the unit is stopped or the probe sees air); HJ 75-2017 gives no converted value then.
O2_MEASURED_MAX: Final = 20.9

#: Standard conditions of flue-gas reports [K, Pa] (GB/T 16157-1996 §3, HJ 75-2017 §3:
#: 273 K, 101.325 kPa). Choice: 273.15 K, the exact ice point that 273 K rounds; with
#: t + 273.15 in the numerator the ratio (273.15 + t)/273.15 differs from the texts'
#: (273 + t)/273 by less than 0.03 % below 250 °C.
STANDARD_TEMPERATURE: Final = 273.15
STANDARD_PRESSURE: Final = 101_325.0
#: Molar volume of an ideal gas at standard conditions [L/mol] as the standards use it
#: (HJ 75-2017 / HJ 1045-2019 Annex A: mg/m³ = ppm × M / 22.4; the exact value is 22.414).
MOLAR_VOLUME: Final = 22.4
#: Molar masses [g/mol] the standards' conversions use (HJ 75-2017 Annex A: SO2 64, NO 30,
#: NO2 46, CO 28).
MOLAR_MASS: Final[dict[str, float]] = {"SO2": 64.0, "NO": 30.0, "NO2": 46.0, "CO": 28.0}


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def flag_case(flags: ArrayLike) -> NDArray[np.str_]:
    """The HJ 75-2017 §12 case of each HJ 212 data flag (table in the module docstring).

    Parameters
    ----------
    flags : array-like of str
        HJ 212-2017 data flags; a missing flag (None, empty) means N (HJ 212-2017 §6.6: the
        Flag field is optional). An unknown flag is invalid.

    Returns
    -------
    NDArray[str]
        ``'valid'``, ``'stopped'`` or ``'invalid'``.
    """
    f = np.asarray(flags, dtype=object)
    out = np.full(f.shape, "invalid", dtype="<U7")
    blank = np.vectorize(lambda x: x is None or x == "", otypes=[np.bool_])(f)
    out[blank | np.isin(f, list(VALID_FLAGS))] = "valid"
    out[np.isin(f, list(STOPPED_FLAGS))] = "stopped"
    return out


def reference_oxygen_conversion(
    concentration: ArrayLike, o2_measured: ArrayLike, o2_reference: ArrayLike
) -> FloatArray:
    """Concentration at the reference oxygen content (基准氧含量折算浓度).

    ``C_ref = C × (21 − O2_ref) / (21 − O2)`` (GB 13223-2011 §5.2; GB 13271-2014 §5.2;
    HJ 75-2017 Annex, 折算浓度), all on dry flue gas at standard conditions.

    Guard: NaN where ``O2 ≥ 20.9`` (ambient air, the factor diverges), ``O2 < 0``,
    ``O2_ref ≥ 21`` or ``O2_ref < 0`` (not a reference content), or any input NaN.

    Parameters
    ----------
    concentration : array-like
        Measured concentration, dry, standard conditions [mg/m³].
    o2_measured : array-like
        Measured O2 content of the dry flue gas [% by volume].
    o2_reference : array-like
        Reference O2 content of the source type [% by volume] (GB 13223-2011 Table 3; see
        :data:`shanshui.standards.emissions_tables.REFERENCE_OXYGEN`).

    Returns
    -------
    NDArray[float64]
        Converted concentration [mg/m³].
    """
    c, o2, ref = _f(concentration), _f(o2_measured), _f(o2_reference)
    bad = (o2 >= O2_MEASURED_MAX) | (o2 < 0) | (ref >= O2_AIR) | (ref < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c * (O2_AIR - ref) / (O2_AIR - o2)  # GB 13223-2011 §5.2
    return np.asarray(np.where(bad, np.nan, out), dtype=np.float64)


def standard_conditions(
    concentration: ArrayLike, temperature: ArrayLike, pressure: ArrayLike
) -> FloatArray:
    """Concentration at standard conditions (273.15 K, 101.325 kPa) from actual conditions.

    ``C_s = C × 101325 / p × (273.15 + t) / 273.15`` (HJ 75-2017 / HJ 1045-2019 Annex A:
    ``Cs × 101325/(Ba+Ps) × (273+ts)/273``; 273.15 chosen, see :data:`STANDARD_TEMPERATURE`).

    Guard: NaN where the absolute pressure ≤ 0 or the temperature ≤ −273.15 °C.

    Parameters
    ----------
    concentration : array-like
        Concentration at the flue gas's actual temperature and pressure [mg/m³].
    temperature : array-like
        Flue-gas temperature ts [°C] (HJ 212 a01012).
    pressure : array-like
        Absolute flue-gas pressure Ba + Ps [kPa] (barometric plus static; HJ 212 a01013 when
        the device reports absolute pressure).

    Returns
    -------
    NDArray[float64]
        Concentration at standard conditions [mg/m³].
    """
    c, t, p = _f(concentration), _f(temperature), _f(pressure) * 1000.0
    bad = (p <= 0) | (t <= -STANDARD_TEMPERATURE)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c * STANDARD_PRESSURE / p * (STANDARD_TEMPERATURE + t) / STANDARD_TEMPERATURE
    return np.asarray(np.where(bad, np.nan, out), dtype=np.float64)


def dry_basis(concentration: ArrayLike, humidity: ArrayLike) -> FloatArray:
    """Concentration on dry flue gas from a wet-basis measurement.

    ``C_dry = C_wet / (1 − X_sw)`` with X_sw the volume fraction of water vapour (HJ 75-2017 /
    HJ 1045-2019 Annex A).

    Guard: NaN where the humidity is < 0 % or ≥ 100 %.

    Parameters
    ----------
    concentration : array-like
        Wet-basis concentration [mg/m³].
    humidity : array-like
        Water vapour content X_sw of the flue gas [% by volume] (HJ 212 a01014).

    Returns
    -------
    NDArray[float64]
        Dry-basis concentration [mg/m³].
    """
    c, x = _f(concentration), _f(humidity) / 100.0
    bad = (x < 0) | (x >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c / (1.0 - x)
    return np.asarray(np.where(bad, np.nan, out), dtype=np.float64)


def ppm_to_mg_m3(ppm: ArrayLike, molar_mass: ArrayLike | str) -> FloatArray:
    """Mass concentration from a volume mixing ratio: ``mg/m³ = ppm × M / 22.4``.

    At standard conditions (273 K, 101.325 kPa; HJ 75-2017 / HJ 1045-2019 Annex A).

    Parameters
    ----------
    ppm : array-like
        Volume mixing ratio [µmol/mol].
    molar_mass : array-like or str
        Molar mass [g/mol], or a key of :data:`MOLAR_MASS` (``'SO2'``, ``'NO'``, ``'NO2'``,
        ``'CO'``).

    Returns
    -------
    NDArray[float64]
        Concentration [mg/m³].
    """
    if isinstance(molar_mass, str):
        if molar_mass not in MOLAR_MASS:
            raise StandardsError(f"no molar mass for {molar_mass!r}; give it in g/mol")
        molar_mass = MOLAR_MASS[molar_mass]
    return np.asarray(_f(ppm) * _f(molar_mass) / MOLAR_VOLUME, dtype=np.float64)


def nox_as_no2(no: ArrayLike, no2: ArrayLike) -> FloatArray:
    """Nitrogen oxides expressed as NO2: ``NOx = NO × 46/30 + NO2`` (GB 13223-2011 Table 1
    "以 NO2 计"; HJ 75-2017).

    Parameters
    ----------
    no, no2 : array-like
        NO and NO2 concentrations [mg/m³].

    Returns
    -------
    NDArray[float64]
        NOx as NO2 [mg/m³].
    """
    ratio = MOLAR_MASS["NO2"] / MOLAR_MASS["NO"]
    return np.asarray(_f(no) * ratio + _f(no2), dtype=np.float64)


def dry_standard_flow(
    velocity: ArrayLike,
    area: ArrayLike,
    temperature: ArrayLike,
    pressure: ArrayLike,
    humidity: ArrayLike,
) -> FloatArray:
    """Dry flue-gas flow at standard conditions from the stack's velocity and section.

    ``Q_sn = 3600 × F × V_s × 273.15/(273.15 + t_s) × p/101.325 × (1 − X_sw)``
    (GB/T 16157-1996 §7 as applied by HJ 75-2017: actual flow ``Q_s = 3600 F V_s`` brought to
    273.15 K, 101.325 kPa and to dry gas). ``V_s`` is the section's mean velocity: a
    single-point probe's reading times its velocity-field coefficient (HJ 75-2017 §7), which
    the caller applies.

    Guard: NaN where the absolute pressure ≤ 0, the temperature ≤ −273.15 °C, the humidity is
    outside [0, 100) %, or the velocity or area is negative.

    Parameters
    ----------
    velocity : array-like
        Mean flue-gas velocity in the section [m/s] (HJ 212 a01011).
    area : array-like
        Cross-section of the stack at the measuring point [m²].
    temperature : array-like
        Flue-gas temperature [°C] (a01012).
    pressure : array-like
        Absolute flue-gas pressure [kPa] (a01013, barometric plus static).
    humidity : array-like
        Water vapour content [% by volume] (a01014).

    Returns
    -------
    NDArray[float64]
        Dry standard flow [m³/h].
    """
    v, a, t, p, x = _f(velocity), _f(area), _f(temperature), _f(pressure), _f(humidity) / 100.0
    bad = (p <= 0) | (t <= -STANDARD_TEMPERATURE) | (x < 0) | (x >= 1) | (v < 0) | (a < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        actual = 3600.0 * a * v  # [m³/h] at the stack's temperature and pressure
        out = (
            actual
            * STANDARD_TEMPERATURE
            / (STANDARD_TEMPERATURE + t)
            * (p * 1000.0 / STANDARD_PRESSURE)
            * (1.0 - x)
        )
    return np.asarray(np.where(bad, np.nan, out), dtype=np.float64)


def flow_m3s_to_m3h(flow: ArrayLike) -> FloatArray:
    """HJ 212 ``a00000`` (废气流量, m³/s, dry standard) in m³/h: × 3600.

    Parameters
    ----------
    flow : array-like
        Flow [m³/s].

    Returns
    -------
    NDArray[float64]
        Flow [m³/h].
    """
    return np.asarray(_f(flow) * 3600.0, dtype=np.float64)


def emission_rate(concentration: ArrayLike, flow: ArrayLike) -> FloatArray:
    """Emission rate (排放速率): ``G = C × Q × 10⁻⁶``.

    HJ 75-2017 (排放量 from the measured concentration and the dry standard flow): the
    MEASURED concentration, not the reference-oxygen converted one, times the dry standard
    flow — the flow already carries the dilution that the conversion would remove.

    Parameters
    ----------
    concentration : array-like
        Measured concentration, dry, standard conditions [mg/m³].
    flow : array-like
        Dry standard flow [m³/h].

    Returns
    -------
    NDArray[float64]
        Emission rate [kg/h]; over one hour also the mass emitted in it [kg].
    """
    return np.asarray(_f(concentration) * _f(flow) * 1e-6, dtype=np.float64)


def wastewater_load(concentration: ArrayLike, volume: ArrayLike) -> FloatArray:
    """Pollutant load of waste water: ``L = C × V × 10⁻³`` (1 mg/L × 1 m³ = 1 g).

    Parameters
    ----------
    concentration : array-like
        Concentration [mg/L] (e.g. HJ 212 w01018 COD, w21003 NH3-N).
    volume : array-like
        Volume discharged in the period [m³] (w00000 ``Cou``; a flow in L/s times the
        period's seconds / 1000).

    Returns
    -------
    NDArray[float64]
        Load [kg].
    """
    return np.asarray(_f(concentration) * _f(volume) * 1e-3, dtype=np.float64)
