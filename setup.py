"""Build hook: compile the HJ 212 codec's hot modules to C extensions with mypyc.

The metadata lives in ``pyproject.toml``; this file only adds the extension modules.
mypyc (part of mypy) compiles the strictly typed modules; the ``.py`` files stay the
source of truth and the compiled ``.so`` files (git-ignored) take precedence on import.
After editing one of them, rebuild: ``.venv/bin/pip install -e '.[dev]'``
(``tests/test_hj212_build.py`` fails on a stale build; ``make`` rebuilds by itself).

Decode throughput of the air hourly frame (``bench/hj212_codec.py``) goes from about
75,000 to about 113,000 frames/s per core with these modules compiled. Where no C compiler
works, the build warns and installs the same modules as plain Python (slower, same results).
"""

import sys

from mypyc.build import mypycify
from setuptools import setup
from setuptools.command.build_ext import build_ext

# The decode/encode path: CRC, segment parser, frame splitter, errors, encoder.
COMPILED = [
    "src/shanshui/hj212/crc.py",
    "src/shanshui/hj212/errors.py",
    "src/shanshui/hj212/message.py",
    "src/shanshui/hj212/decoder.py",
    "src/shanshui/hj212/encode.py",
]


class OptionalBuildExt(build_ext):
    """Compile the codec where a C compiler works; otherwise keep it pure Python."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, or it failed: the .py modules still work
            print(
                f"warning: the HJ 212 codec is not compiled ({exc}); using pure Python",
                file=sys.stderr,
            )


setup(
    ext_modules=mypycify(
        # pyproject.toml's [tool.mypy] also configures shanshui.standards, not compiled here.
        ["--no-warn-unused-configs", *COMPILED],
        opt_level="3",
        group_name="shanshui_hj212",
    ),
    cmdclass={"build_ext": OptionalBuildExt},
)
