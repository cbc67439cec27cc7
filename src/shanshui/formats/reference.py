"""Reference metadata shipped inside the package: stations, regions, demo data, boundaries.

Everything here is read from ``shanshui/data/`` (never from ``../shared``); each folder has a
README naming its source and licence.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from typing import Any

import numpy as np
import pandas as pd

from shanshui.formats.canonical import POLLUTANTS, build_frame, run_strings, take_strings

#: The station list shipped: CNEMC's list valid from 2022-02-13 (2,026 stations).
STATION_LIST = "cnemc_stations_2022-02-13.csv"

#: The demo data file: the 12 Beijing PRSA stations' pollutants, canonical (see demo README).
DEMO_FILE = "prsa_beijing_pollutants.parquet"

#: Region boundaries for the map (GB/T 2260 codes of :func:`regions`).
BOUNDARIES_FILE = "regions.geojson"

#: Beijing's 16 districts (for the demo map of the Beijing stations).
BEIJING_DISTRICTS_FILE = "beijing_districts.geojson"

# a status note at the end of a name: "定陵(对照点)", "草堂寺（已停运）"
_NOTE = re.compile(r"^(?P<name>.*?)\s*[(（](?P<note>[^()（）]*)[)）]\s*$")
_DATE = re.compile(r"\d{6,8}")


def data_dir(*parts: str) -> Traversable:
    """A folder or file under ``shanshui/data``."""
    node = resources.files("shanshui").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return node


def _read_csv(*parts: str, **kwargs: Any) -> pd.DataFrame:
    with data_dir(*parts).open("rb") as fh:
        frame: pd.DataFrame = pd.read_csv(fh, **kwargs)
    return frame


def _note_date(note: str, word: tuple[str, ...]) -> Any:
    """The date in a note such as ``停运150702`` / ``20190222停运`` (YYMMDD or YYYYMMDD)."""
    if not any(w in note for w in word):
        return pd.NaT
    found = _DATE.search(note)
    if not found:
        return pd.NaT
    digits = found.group()
    if len(digits) == 6:  # YYMMDD; every such note in the list is from 2015-2020
        digits = "20" + digits
    return pd.to_datetime(digits, format="%Y%m%d", errors="coerce")


@lru_cache(maxsize=1)
def _stations() -> pd.DataFrame:
    raw = _read_csv("stations", STATION_LIST, dtype=str, keep_default_na=False)
    raw.columns = ["code", "raw_name", "city", "lon", "lat", "reference"]
    split = raw["raw_name"].str.extract(_NOTE)
    name = split["name"].fillna(raw["raw_name"]).str.strip()
    note = split["note"].fillna("").str.strip()
    closed = note.map(lambda n: _note_date(n, ("停运", "停用")))
    opened = note.map(lambda n: _note_date(n, ("启用",)))
    regions_by_city = city_regions().set_index("city")["region"]
    frame = pd.DataFrame(
        {
            "code": raw["code"],
            "name": name,
            "city": raw["city"],
            # "-" or empty: no coordinates published
            "lon": pd.to_numeric(raw["lon"].replace({"-": ""}), errors="coerce"),
            "lat": pd.to_numeric(raw["lat"].replace({"-": ""}), errors="coerce"),
            "reference": raw["reference"].eq("Y"),
            "note": note,
            "closed": pd.to_datetime(closed).astype("datetime64[s]"),
            "opened": pd.to_datetime(opened).astype("datetime64[s]"),
            "active": ~note.str.contains("停运|停用"),
            "region": raw["city"].map(regions_by_city),
        }
    )
    return frame


def stations() -> pd.DataFrame:
    """The national air-quality station list (CNEMC, valid from 2022-02-13; 2,026 stations).

    Source: CNEMC via quotsoft.net/air, file ``站点列表-2022.02.13起.csv`` (shipped verbatim as
    ``shanshui/data/stations/cnemc_stations_2022-02-13.csv``; see the README there).

    Columns: ``code`` (``1001A``), ``name`` (status note removed: ``定陵(对照点)`` → ``定陵``),
    ``city`` (the list's short name, ``北京``), ``lon``/``lat`` [° WGS-84-ish, NaN where the
    list has ``-`` or nothing], ``reference`` (bool: the list's ``对照点`` column is ``Y`` —
    a site that does not enter the city value; the list also marks most closed sites ``Y``),
    ``note`` (the removed note, e.g. ``对照点``, ``停运150702``, ``已停运``; ``""`` if none),
    ``closed``/``opened`` (date of a ``停运``/``停用``/``启用`` note, else NaT), ``active``
    (no ``停运``/``停用`` note), ``region`` (GB/T 2260 code of the city for the project area,
    see :func:`city_regions`; NaN elsewhere).
    """
    return _stations().copy()


def regions() -> pd.DataFrame:
    """The project area's administrative divisions (GB/T 2260 codes).

    Columns ``code`` (str, ``130100``), ``name_zh``, ``name_en``, ``level``
    (``municipality`` | ``province`` | ``prefecture``), ``parent`` (code or NaN).
    Beijing, Tianjin, Hebei and its 11 prefecture cities, Shandong (as parent only) and 德州.
    """
    return _read_csv("regions", "regions.csv", dtype=str)


def city_regions() -> pd.DataFrame:
    """Station-list city name → GB/T 2260 region code, for the project area.

    Columns ``city`` (as :func:`stations` writes it: ``北京``, ``雄安新区``), ``region``
    (code), ``note``. 雄安新区 → 130600 保定市 (its three counties are Baoding's).
    """
    return _read_csv("regions", "city_regions.csv", dtype=str, keep_default_na=False)


def prsa_stations() -> pd.DataFrame:
    """The 12 Beijing PRSA stations: pinyin ``station`` → national ``code``, ``name_zh``, …

    Shipped verbatim from ``../shared/data/beijing_multisite/stations.csv`` (derived there
    from the CNEMC 2016-11-07 and 2022-02-13 station lists).
    """
    return _read_csv("stations", "prsa_stations.csv", dtype={"station": str, "code": str})


def demo_data(pollutants: tuple[str, ...] = POLLUTANTS) -> pd.DataFrame:
    """The demo data set as a canonical long table (Beijing's 12 stations, 2013-03 … 2017-02).

    The six pollutants of the Beijing Multi-Site Air-Quality data (UCI dataset 501,
    Chen 2019, CC BY 4.0; see ``shanshui/data/demo/README.md``), read with
    :func:`~shanshui.formats.read_prsa` defaults (hour label = end, CO in mg/m³, NA left out).
    """
    with data_dir("demo", DEMO_FILE).open("rb") as fh:
        wide = pd.read_parquet(fh)
    return wide_to_long(wide, pollutants)


def wide_to_long(wide: pd.DataFrame, parameters: tuple[str, ...]) -> pd.DataFrame:
    """``site, time, <parameter>…`` (one row per site-hour) → canonical long table.

    Rows come parameter by parameter (all PM2.5, then all PM10, …), each in ``wide``'s order.
    """
    values = np.ascontiguousarray(wide[list(parameters)].to_numpy(dtype=np.float64).T)
    flat = np.flatnonzero(~np.isnan(values))
    c, r = np.divmod(flat, max(len(wide), 1))
    codes, sites = pd.factorize(wide["site"])
    return build_frame(
        site=take_strings([str(s) for s in sites], codes[r]),
        time=pd.DatetimeIndex(wide["time"])[r],
        parameter=run_strings(list(parameters), np.bincount(c, minlength=len(parameters))),
        value=values.ravel()[flat],
    )


def boundaries(which: str = "regions") -> dict[str, Any]:
    """A shipped GeoJSON FeatureCollection (lon/lat).

    ``"regions"``: one feature per code of :func:`regions` except the provinces Hebei and
    Shandong (Beijing, Tianjin, Hebei's 11 cities, 德州), ``properties`` = ``id`` (code),
    ``name``, ``name_en``, ``cp`` (label point). ``"beijing"``: Beijing's 16 districts.
    Source: Apache ECharts 4.9.0 map data (Apache-2.0), see ``shanshui/data/demo/README.md``.
    """
    files = {"regions": BOUNDARIES_FILE, "beijing": BEIJING_DISTRICTS_FILE}
    if which not in files:
        raise ValueError(f"which must be one of {sorted(files)}")
    with data_dir("demo", files[which]).open("rb") as fh:
        result: dict[str, Any] = json.load(fh)
    return result
