"""The tables of HJ 633-2012 (环境空气质量指数（AQI）技术规定（试行）), shipped as data.

Source: HJ 633-2012, *Technical Regulation on Ambient Air Quality Index (on trial)*,
Ministry of Environmental Protection of the P.R. China, 2012-02-29, in force 2016-01-01:

- :data:`BREAKPOINTS` — Table 1, 空气质量分指数及对应的污染物项目浓度限值 (IAQI breakpoints);
  µg/m³, CO in mg/m³.
- :data:`CATEGORIES` — Table 2, 空气质量指数及相关信息 (levels, categories), with the colours of
  Appendix A (规范性附录, 空气质量指数类别的表示颜色, RGB).

The values are transcribed from the standard; ``tests/test_aqi.py`` checks them against the
independent transcription in ``../shared/reference/air/`` (``aqi_breakpoints.csv``,
``aqi_categories.csv``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

#: IAQI values at the breakpoints (HJ 633-2012 Table 1, first column).
IAQI_LEVELS: Final = (0, 50, 100, 150, 200, 300, 400, 500)

#: HJ 633-2012 Table 1: concentration breakpoints [µg/m³; CO mg/m³] for each
#: ``<pollutant>_<averaging period>``, aligned with :data:`IAQI_LEVELS`. Two columns stop
#: early because the standard gives no higher breakpoint: SO2 1-hour stops at 800 µg/m³
#: (IAQI 200) and O3 8-hour at 800 µg/m³ (IAQI 300); Table 1's notes send values above them
#: to the SO2 24-hour and the O3 1-hour IAQI respectively.
BREAKPOINTS: Final[dict[str, tuple[float, ...]]] = {
    "SO2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "SO2_1h": (0, 150, 500, 650, 800),
    "NO2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "NO2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "PM10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "CO_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "CO_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "O3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "O3_8h": (0, 100, 160, 215, 265, 800),
    "PM2.5_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}


class Category(NamedTuple):
    """One row of HJ 633-2012 Table 2 with its Appendix A colour."""

    level: int
    level_zh: str
    aqi_min: int
    aqi_max: int | None
    category_zh: str
    category_en: str
    colour_zh: str
    colour_en: str
    rgb: tuple[int, int, int]

    @property
    def colour(self) -> str:
        """The colour as ``#RRGGBB`` (Appendix A RGB values)."""
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


#: HJ 633-2012 Table 2 (levels and categories) with the colours of Appendix A.
CATEGORIES: Final = (
    Category(1, "一级", 0, 50, "优", "Excellent", "绿色", "green", (0, 228, 0)),
    Category(2, "二级", 51, 100, "良", "Good", "黄色", "yellow", (255, 255, 0)),
    Category(3, "三级", 101, 150, "轻度污染", "Lightly polluted", "橙色", "orange", (255, 126, 0)),
    Category(4, "四级", 151, 200, "中度污染", "Moderately polluted", "红色", "red", (255, 0, 0)),
    Category(5, "五级", 201, 300, "重度污染", "Heavily polluted", "紫色", "purple", (153, 0, 76)),
    Category(
        6, "六级", 301, None, "严重污染", "Severely polluted", "褐红色", "maroon", (126, 0, 35)
    ),
)
