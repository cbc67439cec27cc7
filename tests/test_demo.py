"""`shanshui demo` (what `make demo` runs) works on the data shipped in the package, and its
portal answers at the URL it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_imports_history_and_replays_live_devices(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "shanshui.cli", "demo", "--dir", str(tmp_path / "demo"),
         "--port", "0", "--http-port", "0", "--duration", "10", "--history-days", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    ) as process:  # fmt: skip
        lines: list[str] = []
        errors: list[str] = []
        readers = [
            threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True),
            threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            # the portal's URL is printed once it serves; it answers with the map page
            deadline = time.monotonic() + 200
            url = None
            while url is None and time.monotonic() < deadline and process.poll() is None:
                found = re.search(r"portal: (http://127\.0\.0\.1:\d+/)", "".join(lines))
                url = found.group(1) if found else None
                time.sleep(0.1)
            assert url, "".join(lines)[-3000:] + "".join(errors)[-3000:]
            with urllib.request.urlopen(url + "?lang=en", timeout=30) as response:  # loopback
                page = response.read().decode()
                assert response.status == 200
            assert "Air quality now" in page and "CC BY 4.0" in page
            process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
            for reader in readers:
                reader.join(timeout=10)
    assert process.returncode == 0, "".join(errors)[-3000:]
    out = "".join(lines)
    # 2,026 stations of the CNEMC 2022-02-13 list and the 16 regions of the project area.
    assert "16 regions, 2026 stations" in out
    # Beijing's 12 national stations (1001A–1012A) appear in the final AQI table with a value.
    rows = re.findall(r"(10(?:0[1-9]|1[0-2])A)\s*│[^│]*│[^│]*│\s*(\d+)\s*│", out)
    assert {code for code, _ in rows} == {f"10{i:02d}A" for i in range(1, 13)}
    assert all(0 < int(aqi) <= 500 for _, aqi in rows)
    stored = [int(n.replace(",", "")) for n in re.findall(r"readings stored ([\d,]+)", out)]
    assert stored and stored[-1] > 0
