"""The codec's hot modules run compiled by mypyc (``setup.py``), from a current build.

The ``.py`` files stay the source of truth; a compiled ``.so`` next to one takes
precedence on import, so after an edit the build must be redone
(``.venv/bin/pip install -e '.[dev]'``) or the tests would exercise stale code.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

# The modules setup.py hands to mypycify (its COMPILED list).
COMPILED = ("crc", "errors", "message", "decoder", "encode")


@pytest.mark.parametrize("name", COMPILED)
def test_module_is_compiled_from_current_source(name: str) -> None:
    module = importlib.import_module(f"shanshui.hj212.{name}")
    assert module.__file__ is not None
    path = Path(module.__file__)
    assert path.suffix == ".so", (
        f"shanshui.hj212.{name} runs uncompiled ({path}): pip install -e '.[dev]'"
    )
    source = path.with_name(f"{name}.py")
    assert source.stat().st_mtime <= path.stat().st_mtime, (
        f"{path.name} is older than {source.name}: rebuild with pip install -e '.[dev]'"
    )
