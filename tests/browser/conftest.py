"""Browser tests: Playwright driving the system's (Debian's) Chromium, headless, on loopback.

The portal runs as in ``shanshui serve``: the FastAPI app of :func:`shanshui.api.create_app`
served by uvicorn, here in a thread on a free loopback port, over a DuckDB store seeded with
the regions, the national station list and real hourly data of the project region: the 30
days of CNEMC station data in ``../shared/data/cnemc/china_sites`` (2025-01), restricted to
the stations of Beijing, Tianjin, Hebei and Dezhou; and the synthetic plant SYN05 of
``tests/test_web_sources.py`` (permit, 10 days of hourly CEMS data, its alarms).

Without a Chromium the tests skip with the reason printed, except under
``SHANSHUI_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: where the screenshots go (gitignored; CI keeps them as artifacts)
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """The system Chromium: $SHANSHUI_CHROMIUM, else the first of :data:`CANDIDATES`."""
    asked = os.environ.get("SHANSHUI_CHROMIUM")
    if asked:
        return asked if Path(asked).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("SHANSHUI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (SHANSHUI_REQUIRE_BROWSER=1) but {reason}")
    print(f"SKIP browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (apt-get install chromium, or set SHANSHUI_CHROMIUM)")
    assert path is not None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_region(db: Path, shared: Path) -> None:
    """Regions, stations and the January 2025 CNEMC hours of the project region's stations."""
    from shanshui import formats
    from shanshui.store import open_store, seed

    files = sorted((shared / "data/cnemc/china_sites").glob("china_sites_2025*.csv.gz"))
    stations = formats.stations()
    region = set(stations.loc[stations["region"].notna(), "code"])
    table = formats.read_cnemc(files)
    table = table[table["site"].isin(region)]
    with open_store(db) as store:
        seed(store)
        store.write_observations(table.assign(statistic="avg", period="hour"), source="test")
        store.recompute_daily()
    # a SYNTHETIC plant with its permit, hourly CEMS data and alarms (tests/test_web_sources)
    from test_web_sources import build_plant

    build_plant(db)


@pytest.fixture(scope="session")
def served(
    chromium: str, shared: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """(base URL, store) of the portal, served by uvicorn on a free loopback port."""
    import uvicorn

    from shanshui.api import create_app
    from shanshui.store import open_store

    db = tmp_path_factory.mktemp("portal") / "portal.duckdb"
    seed_region(db, shared)
    with open_store(db) as store:
        port = _free_port()
        config = uvicorn.Config(
            create_app(store), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="portal-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the portal did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", store
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def portal(served: tuple[str, Any]) -> str:
    """The base URL of the portal."""
    return str(served[0])


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Chromium, for one test module at a time: Playwright's sync API runs an event loop in
    the main thread while it is open, so it must be closed before other modules' tests (which
    start their own loops, e.g. through httpx's ASGI transport) run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
