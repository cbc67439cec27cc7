"""Shared test fixtures: where the reference material lives."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The project's ``../shared`` folder (reference cases and real data; tests only)."""
    if not SHARED.is_dir():  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"reference folder {SHARED} is missing; tests need ../shared")
    return SHARED
