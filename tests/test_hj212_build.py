"""The codec's hot modules run compiled by mypyc (``setup.py``), from a current build.

The ``.py`` files stay the source of truth; a compiled ``.so`` next to one takes
precedence on import, so after an edit the build must be redone
(``.venv/bin/pip install -e '.[dev]'``) or the tests would exercise stale code.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sysconfig
from pathlib import Path

import pytest

# The modules setup.py hands to mypycify (its COMPILED list).
COMPILED = ("crc", "errors", "values", "segment", "message", "decoder", "encode")


def _c_compiler() -> str | None:
    """The C compiler Python's build would use, if it is on this machine."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(cc[0]) if cc else None


@pytest.mark.parametrize("name", COMPILED)
def test_module_is_compiled_from_current_source(name: str) -> None:
    if _c_compiler() is None:  # setup.py then installs the codec as plain Python
        pytest.skip("no C compiler on this machine: the codec runs as plain Python")
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
