"""`shanshui demo` (what `make demo` runs) works on the data shipped in the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_imports_history_and_replays_live_devices(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "shanshui.cli", "demo", "--dir", str(tmp_path / "demo"),
         "--port", "0", "--http-port", "0", "--duration", "10", "--history-days", "7"],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    # 2,026 stations of the CNEMC 2022-02-13 list and the 16 regions of the project area.
    assert "16 regions, 2026 stations" in out
    # Beijing's 12 national stations (1001A–1012A) appear in the final AQI table with a value.
    rows = re.findall(r"(10(?:0[1-9]|1[0-2])A)\s*│[^│]*│[^│]*│\s*(\d+)\s*│", out)
    assert {code for code, _ in rows} == {f"10{i:02d}A" for i in range(1, 13)}
    assert all(0 < int(aqi) <= 500 for _, aqi in rows)
    stored = [int(n.replace(",", "")) for n in re.findall(r"readings stored ([\d,]+)", out)]
    assert stored and stored[-1] > 0
