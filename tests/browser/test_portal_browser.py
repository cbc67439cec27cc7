"""The portal in a real browser (issue 5, "Done when"): the map shows coloured stations,
a station page shows charts with data, the language switches, the ranking is sorted by
composite index. Screenshots (desktop and phone) go to ``artifacts/screenshots/``.

Reference: HJ 633-2012 Table 2 / Appendix A colours as transcribed in
``../shared/reference/air/aqi_categories.csv``.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
MAP_READY = (
    "() => window.portalChart && (window.portalChart.getOption() || {}).series"
    " && window.portalChart.getOption().series[0].data.length > 0"
)
STATION_READY = (
    "() => window.portalCharts && ['hours', 'days', 'calendar'].every("
    "k => (window.portalCharts[k].getOption() || {}).series"
    " && window.portalCharts[k].getOption().series[0].data.length > 0)"
)


def hj633(shared: Path) -> list[tuple[int, int, str]]:
    """(AQI min, max, #RRGGBB) of HJ 633-2012 Table 2 / Appendix A, from the reference CSV."""
    with (shared / "reference/air/aqi_categories.csv").open() as fh:
        return [
            (
                int(r["aqi_min"]),
                int(r["aqi_max"] or 10_000),
                "#{:02X}{:02X}{:02X}".format(int(r["r"]), int(r["g"]), int(r["b"])),
            )
            for r in csv.DictReader(fh)
        ]


def _page(browser: Any, viewport: dict[str, int], lang: str = "zh") -> Any:
    context = browser.new_context(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US")
    return context.new_page()


def test_map_shows_stations_coloured_by_aqi_category(
    browser: Any, portal: str, shared: Path, screenshots: Path
) -> None:
    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/?lang=zh")
    page.wait_for_function(MAP_READY, timeout=20_000)
    data = page.evaluate("() => window.portalChart.getOption().series[0].data")
    # the CNEMC stations of the region with coordinates (Beijing, Tianjin, Hebei, Dezhou)
    categories = hj633(shared)
    seen = set()
    current = [p for p in data if not p["stale"]]
    assert len(current) > 100
    for point in data:
        if point["stale"]:  # newest hour > 3 h behind the network's: grey
            assert point["itemStyle"]["color"] == "#bbbbbb"
            continue
        aqi = point["value"][2]
        assert aqi is not None, point
        expected = next(c for lo, hi, c in categories if lo <= aqi <= hi)
        assert point["itemStyle"]["color"].upper() == expected, point
        seen.add(expected)
    # the canvas really shows those colours: count pixels of each station colour
    page.wait_for_timeout(1500)  # let the entry animation finish
    found = page.evaluate(
        """(colours) => {
          const canvas = document.querySelector('#map canvas');
          const ctx = canvas.getContext('2d');
          const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const want = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
          const counts = want.map(() => 0);
          for (let i = 0; i < px.length; i += 4) {
            want.forEach((w, k) => {
              if (px[i] === w[0] && px[i + 1] === w[1] && px[i + 2] === w[2]) counts[k]++;
            });
          }
          return counts;
        }""",
        sorted(seen),
    )
    assert all(n > 0 for n in found), dict(zip(sorted(seen), found, strict=True))
    assert page.locator("#stations tbody tr").count() == len(data)
    page.screenshot(path=str(screenshots / "map-desktop.png"), full_page=True)
    page.screenshot(path=str(screenshots / "map-desktop-view.png"))
    phone = _page(browser, PHONE)
    phone.goto(f"{portal}/")
    phone.wait_for_function(MAP_READY, timeout=20_000)
    phone.wait_for_timeout(1500)
    phone.screenshot(path=str(screenshots / "map-phone.png"), full_page=True)
    page.context.close()
    phone.context.close()


def test_station_page_draws_charts_with_data(browser: Any, portal: str, screenshots: Path) -> None:
    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/station/1001A?lang=zh")
    page.wait_for_function(STATION_READY, timeout=20_000)
    hours = page.evaluate("() => window.portalCharts.hours.getOption().series[0].data")
    days = page.evaluate("() => window.portalCharts.days.getOption().series[0].data")
    calendar = page.evaluate("() => window.portalCharts.calendar.getOption().series[0].data")
    # the last 24 hours of PM2.5 (CNEMC hourly data, 1001A reports nearly every hour)
    assert 20 <= len(hours) <= 24
    assert sum(v is not None for v in hours) >= 20
    assert len(days) == 30  # one bar a day, the latest day included
    assert all(d["value"] is None or d["value"] >= 0 for d in days)
    # the AQI calendar holds January 2025 (30 days of data; -1 = invalid day)
    jan = [d for d in calendar if str(d[0]).startswith("2025-01")]
    assert len(jan) >= 29 and sum(d[1] > 0 for d in jan) >= 25
    # another pollutant redraws the charts
    page.click("#pollutant-pick button[data-p='CO']")
    page.wait_for_function(
        "() => window.portalCharts.hours.getOption().yAxis[0].name === 'mg/m³'", timeout=5000
    )
    page.click("#pollutant-pick button[data-p='PM2.5']")
    page.wait_for_timeout(1200)
    page.screenshot(path=str(screenshots / "station-desktop.png"), full_page=True)
    phone = _page(browser, PHONE)
    phone.goto(f"{portal}/station/1001A")
    phone.wait_for_function(STATION_READY, timeout=20_000)
    phone.wait_for_timeout(1200)
    phone.screenshot(path=str(screenshots / "station-phone.png"), full_page=True)
    page.context.close()
    phone.context.close()


def test_language_switch_changes_the_text(browser: Any, portal: str) -> None:
    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/?lang=zh")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "实时空气质量" in page.locator("h1").inner_text()
    page.click("#lang-switch")
    page.wait_for_url("**lang=en**")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text().startswith("Air quality now")
    # the choice sticks (cookie): the ranking link now opens in English
    page.click("nav a[href='/ranking']")
    assert page.locator("h1").inner_text() == "City air-quality ranking"
    # the map labels follow: the region names are drawn in English
    page.goto(f"{portal}/")
    page.wait_for_function(MAP_READY, timeout=20_000)
    assert page.evaluate("() => window.portalChart.getOption().geo[0].nameProperty") == "name_en"
    page.context.close()


def test_ranking_is_sorted_by_composite_index(browser: Any, portal: str, screenshots: Path) -> None:
    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/ranking?from=2025-01-01&to=2025-01-30&lang=zh")
    rows = page.locator("#ranking tbody tr")
    # 14 cities: Beijing, Tianjin, Hebei's 11 (雄安新区 counts with 保定? it is its own
    # station-list city) and Dezhou; at least the 13 prefecture-level ones plus Dezhou
    assert rows.count() >= 14

    def column(i: int) -> list[float]:
        texts = page.locator(f"#ranking tbody tr td:nth-child({i})").all_inner_texts()
        return [float(t) for t in texts]

    index = column(3)
    assert index == sorted(index)  # default: composite index ascending = best first
    assert column(1) == sorted(column(1))
    assert column(1)[0] == 1
    page.screenshot(path=str(screenshots / "ranking-desktop.png"), full_page=True)
    # clicking the heading twice sorts descending
    header = page.locator("#ranking thead th").nth(2)
    header.click()
    header.click()
    assert column(3) == sorted(index, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    phone = _page(browser, PHONE)
    phone.goto(f"{portal}/ranking?from=2025-01-01&to=2025-01-30")
    phone.screenshot(path=str(screenshots / "ranking-phone.png"), full_page=True)
    page.context.close()
    phone.context.close()


ENTERPRISE_READY = (
    "() => window.portalEnterpriseCharts && window.portalEnterpriseCharts.length > 0"
    " && window.portalEnterpriseCharts.every(c => (c.getOption() || {}).series)"
)


def test_enterprise_page_draws_limits_on_the_online_data(
    browser: Any, portal: str, screenshots: Path
) -> None:
    from test_web_sources import EXCEEDANCE

    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/enterprise/SYN05?lang=zh")
    page.wait_for_function(ENTERPRISE_READY, timeout=20_000)
    # stack DA001 first: particulate, SO2, NOx with their permitted limits as lines
    options = page.evaluate(
        "() => window.portalEnterpriseCharts.map(c => { const o = c.getOption();"
        " return {limit: o.series[0].markLine.data[0].yAxis, marked: o.series[1].data}; })"
    )
    assert [o["limit"] for o in options] == [10.0, 35.0, 50.0]  # the permit (超低排放)
    # the marked hours of SO2 (series 1): red = valid and over the limit
    red = [m["value"][0] for m in options[1]["marked"] if m["itemStyle"]["color"] == "#d62728"]
    # the 3 injected exceedance hours, labelled MM-DD HH:MM Beijing time, and no others
    assert red == [
        (EXCEEDANCE.start + timedelta(hours=h)).strftime("%m-%d %H:%M") for h in range(3)
    ]
    assert page.locator("#alarms tbody tr").count() >= 2
    page.wait_for_timeout(1200)
    page.screenshot(path=str(screenshots / "enterprise-desktop.png"), full_page=True)
    # the waste-water outlet: COD and NH3-N
    page.click("#outlet-pick button[data-outlet='DW001']")
    page.wait_for_function(
        "() => window.portalEnterpriseCharts.length === 2"
        " && window.portalEnterpriseCharts[0].getOption().series[0].markLine.data[0].yAxis"
        " === 50",
        timeout=5000,
    )
    phone = _page(browser, PHONE)
    phone.goto(f"{portal}/enterprise/SYN05")
    phone.wait_for_function(ENTERPRISE_READY, timeout=20_000)
    phone.wait_for_timeout(1200)
    phone.screenshot(path=str(screenshots / "enterprise-phone.png"), full_page=True)
    sources = _page(browser, DESKTOP)
    sources.goto(f"{portal}/sources?lang=zh")
    assert sources.locator("#enterprises a[href='/enterprise/SYN05']").count() == 1
    sources.screenshot(path=str(screenshots / "sources-desktop.png"), full_page=True)
    for p in (page, phone, sources):
        p.context.close()


def test_map_updates_as_data_arrive(browser: Any, served: tuple[str, Any]) -> None:
    """A new hour stored while the page is open shows within a poll (here every 2 s): station
    1001A turns maroon (HJ 633-2012: AQI > 300, severely polluted) and the hour advances."""
    import pandas as pd

    portal, store = served
    page = _page(browser, DESKTOP)
    page.goto(f"{portal}/?poll=2&lang=en")
    page.wait_for_function(MAP_READY, timeout=20_000)
    before = page.locator("#latest-time").inner_text()
    hour = pd.Timestamp(before.replace(" ", "T")).tz_localize("Asia/Shanghai") + pd.Timedelta(
        hours=1
    )
    # PM2.5 350 µg/m³ is IAQI 400 (HJ 633-2012 Table 1 breakpoint), the others far below
    values = {"PM2.5": 350.0, "PM10": 100.0, "SO2": 5.0, "NO2": 20.0, "CO": 1.0, "O3": 10.0}
    rows = pd.DataFrame(
        {
            "site": "1001A", "time": hour, "parameter": list(values),
            "value": list(values.values()), "flag": "N", "statistic": "avg", "period": "hour",
        }
    )  # fmt: skip
    store.write_observations(rows, source="browser-test")
    page.wait_for_function(
        "() => window.portalChart.getOption().series[0].data.some("
        "d => d.site === '1001A' && d.value[2] === 400 && d.itemStyle.color === '#7E0023')",
        timeout=15_000,
    )
    assert page.locator("#latest-time").inner_text() == hour.strftime("%Y-%m-%d %H:%M")
    page.context.close()
