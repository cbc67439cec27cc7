"""The portal's two languages: Chinese (default) and English.

The language comes from ``?lang=zh|en`` (which also sets the ``lang`` cookie, so the
choice sticks), else from that cookie, else Chinese.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request

LANGS: Final = ("zh", "en")
COOKIE: Final = "lang"

#: Every string the templates and the pages' JavaScript show, per language.
TEXT: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "site": "山水 · 环境空气质量信息公开",
        "site_short": "山水",
        "nav_map": "地图",
        "nav_ranking": "城市排名",
        "nav_sources": "污染源达标",
        "nav_about": "数据说明",
        "switch": "English",
        "map_title": "京津冀及德州 实时空气质量",
        "latest_hour": "最新时次",
        "stations_shown": "个站点",
        "no_data": "暂无数据：尚未收到任何监测数据。数据到达后本页自动更新。",
        "updated": "每30秒自动更新",
        "legend": "空气质量指数（AQI）类别",
        "station": "站点",
        "code": "编码",
        "city": "城市",
        "aqi": "AQI",
        "category": "类别",
        "primary": "首要污染物",
        "time": "时间",
        "no_value": "—",
        "charts_missing": ("图表组件（ECharts）未安装：请运行 make assets。以下表格仍可使用。"),
        "ranking_title": "城市环境空气质量排名",
        "period": "统计时段",
        "from": "起",
        "to": "止",
        "show": "查询",
        "month_to_date": "本月",
        "year_to_date": "今年以来",
        "rank": "排名",
        "composite_index": "综合指数",
        "max_index": "最大指数项目",
        "pm25_mean": "PM2.5 平均浓度 (µg/m³)",
        "good_days": "优良天数比例",
        "change_ci": "综合指数同比",
        "change_pm25": "PM2.5 同比",
        "change_good": "优良天数比例同比（百分点）",
        "stations_n": "站点数",
        "ranking_note": (
            "按综合指数由小到大排列（第1名空气质量最好），依据《城市环境空气质量排名技术规定》"
            "（环办监测〔2018〕19号）。点击表头可按其它列排序。"
        ),
        "ranking_empty": "该时段暂无数据。",
        "station_title": "监测站点",
        "last_24h": "最近24小时",
        "last_30d": "最近30天日均值",
        "calendar": "每日AQI日历",
        "statistics": "统计（最近30天）",
        "pollutant": "污染物",
        "mean": "平均值",
        "assessed": "评价浓度",
        "limit": "二级标准限值",
        "compliant": "达标",
        "yes": "是",
        "no": "否",
        "valid_days": "有效天数 / 应有天数（最少）",
        "valid": "统计有效",
        "invalid": "无效",
        "days_over": "超标天数",
        "unknown_station": "没有这个站点",
        "location": "位置",
        "region": "行政区",
        "about_title": "数据说明",
        "footer_data": "数据来源",
        "hour_label": "小时值按时段起点标记，北京时间（UTC+8）",
        "invalid_day": "无效日（不足20个有效小时）",
        "unit": "单位",
        "loading": "加载中…",
        "stale": "超过3小时未更新",
        "enterprise": "企业",
        "sources_title": "区域污染源达标排放",
    },
    "en": {
        "site": "Shanshui · Open air-quality information",
        "site_short": "Shanshui",
        "nav_map": "Map",
        "nav_ranking": "City ranking",
        "nav_sources": "Source compliance",
        "nav_about": "About the data",
        "switch": "中文",
        "map_title": "Air quality now: Beijing, Tianjin, Hebei and Dezhou",
        "latest_hour": "Latest hour",
        "stations_shown": "stations",
        "no_data": "No data yet: no measurements have arrived. This page updates itself "
        "when they do.",
        "updated": "updates every 30 s",
        "legend": "Air Quality Index (AQI) category",
        "station": "Station",
        "code": "Code",
        "city": "City",
        "aqi": "AQI",
        "category": "Category",
        "primary": "Primary pollutant",
        "time": "Time",
        "no_value": "—",
        "charts_missing": "The chart library (ECharts) is not installed: run make assets. "
        "The tables below still work.",
        "ranking_title": "City air-quality ranking",
        "period": "Period",
        "from": "from",
        "to": "to",
        "show": "Show",
        "month_to_date": "This month",
        "year_to_date": "Year to date",
        "rank": "Rank",
        "composite_index": "Composite index",
        "max_index": "Largest index",
        "pm25_mean": "PM2.5 mean (µg/m³)",
        "good_days": "Good-days share",
        "change_ci": "Composite index, change on last year",
        "change_pm25": "PM2.5, change on last year",
        "change_good": "Good-days share, change (points)",
        "stations_n": "Stations",
        "ranking_note": "Sorted by composite index, smallest first (rank 1 = cleanest air), as "
        "the national city ranking rules (环办监测〔2018〕19号) publish it. Click a column "
        "heading to sort by it.",
        "ranking_empty": "No data in this period.",
        "station_title": "Monitoring station",
        "last_24h": "Last 24 hours",
        "last_30d": "Daily means, last 30 days",
        "calendar": "Daily AQI calendar",
        "statistics": "Statistics (last 30 days)",
        "pollutant": "Pollutant",
        "mean": "Mean",
        "assessed": "Assessed value",
        "limit": "Grade II limit",
        "compliant": "Meets limit",
        "yes": "yes",
        "no": "no",
        "valid_days": "Valid days / expected (minimum)",
        "valid": "Valid",
        "invalid": "invalid",
        "days_over": "Days over limit",
        "unknown_station": "No such station",
        "location": "Location",
        "region": "Region",
        "about_title": "About the data",
        "footer_data": "Data",
        "hour_label": "hourly values labelled by the start of the hour, Beijing time (UTC+8)",
        "invalid_day": "invalid day (fewer than 20 valid hours)",
        "unit": "unit",
        "loading": "loading…",
        "stale": "no data for over 3 h",
        "enterprise": "Enterprise",
        "sources_title": "Regional source compliance",
    },
}


def lang_of(request: Request) -> str:
    """The request's language: ``?lang=``, else the ``lang`` cookie, else ``zh``."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get(COOKIE)
    return kept if kept in LANGS else "zh"
