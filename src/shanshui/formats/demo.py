"""Build the demo files shipped in ``shanshui/data/demo/`` from the project's shared sources.

Run once by a maintainer (``python -m shanshui.formats.demo ../shared/data``); the package
then needs only the files it ships. The tests rebuild them and compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from shanshui.formats.canonical import POLLUTANTS
from shanshui.formats.prsa import read_prsa
from shanshui.formats.reference import regions

#: Where the files go, relative to the package source.
DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"


def demo_wide(prsa_dir: Path) -> pd.DataFrame:
    """The 12 PRSA files' pollutants, read canonically, one row per site-hour (wide)."""
    files = sorted(prsa_dir.glob("PRSA_Data_*_20130301-20170228.csv"))
    if len(files) != 12:
        raise FileNotFoundError(f"expected the 12 PRSA files in {prsa_dir}, found {len(files)}")
    long = read_prsa(files, meteorology=False)
    wide = long.pivot(index=["site", "time"], columns="parameter", values="value")
    wide = wide.reindex(columns=list(POLLUTANTS)).reset_index()
    wide.columns.name = None
    wide["site"] = wide["site"].astype("str")
    return wide.sort_values(["site", "time"], ignore_index=True)


def build_demo_data(prsa_dir: Path, out: Path) -> None:
    """Write the demo Parquet file (zstd)."""
    demo_wide(prsa_dir).to_parquet(out, compression="zstd", compression_level=19, index=False)


def _feature(feature: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    props = feature["properties"]
    return {
        "type": "Feature",
        "properties": {"id": props["id"], "name": props["name"], **extra, "cp": props["cp"]},
        "geometry": feature["geometry"],
    }


def region_features(boundaries_dir: Path) -> dict[str, Any]:
    """Beijing, Tianjin, Hebei's 11 cities and 德州 as one FeatureCollection."""
    table = regions().set_index("code")
    wanted = [c for c in table.index if table.loc[c, "level"] != "province"]
    found: dict[str, dict[str, Any]] = {}
    for name in ("china_provinces", "province_hebei", "province_shandong"):
        with open(boundaries_dir / f"{name}.geojson", encoding="utf-8") as fh:
            for feature in json.load(fh)["features"]:
                code = feature["properties"]["id"]
                if code in wanted:
                    # full names from regions(): the province file writes 北京, not 北京市
                    extra = {
                        "name": table.loc[code, "name_zh"],
                        "name_en": table.loc[code, "name_en"],
                    }
                    found[code] = _feature(feature, extra)
    missing = set(wanted) - set(found)
    if missing:
        raise ValueError(f"no boundary for {sorted(missing)}")
    return {"type": "FeatureCollection", "features": [found[c] for c in wanted]}


def beijing_features(boundaries_dir: Path) -> dict[str, Any]:
    """Beijing's 16 districts as a FeatureCollection."""
    with open(boundaries_dir / "province_beijing.geojson", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    return {"type": "FeatureCollection", "features": [_feature(f, {}) for f in features]}


def dump_geojson(collection: dict[str, Any], out: Path) -> None:
    """Compact UTF-8 GeoJSON."""
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    out.write_text(text + "\n", encoding="utf-8")


def build_all(shared_data: Path, out_dir: Path = DEMO_DIR) -> None:
    """Rebuild every demo file from ``shared_data`` (the project's ``../shared/data``)."""
    build_demo_data(shared_data / "beijing_multisite", out_dir / "prsa_beijing_pollutants.parquet")
    boundaries = shared_data / "boundaries"
    dump_geojson(region_features(boundaries), out_dir / "regions.geojson")
    dump_geojson(beijing_features(boundaries), out_dir / "beijing_districts.geojson")
    for name in ("ECHARTS_LICENSE.txt", "ECHARTS_NOTICE.txt"):
        (out_dir / name).write_bytes((boundaries / name).read_bytes())


if __name__ == "__main__":  # pragma: no cover - maintainer tool
    build_all(Path(sys.argv[1]))
