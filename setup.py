"""Build hook: compile the HJ 212 codec's hot modules to C extensions with mypyc, and the
HJ 633 formula (1) loop ``src/shanshui/standards/_aqi_kernel.c``.

The metadata lives in ``pyproject.toml``; this file only adds the extension modules.
mypyc (part of mypy) compiles the strictly typed modules; the ``.py`` files stay the
source of truth and the compiled ``.so`` files (git-ignored) take precedence on import.
After editing one of them, rebuild: ``.venv/bin/pip install -e '.[dev]'``
(``tests/test_hj212_build.py`` fails on a stale build; ``make`` rebuilds by itself).

Decode throughput of the air hourly frame (``bench/hj212_codec.py``) goes from about
75,000 to about 113,000 frames/s per core with these modules compiled. Where no C compiler
works, the build warns and installs the same modules as plain Python (slower, same results).

The AQI loop (``bench/standards.py``: the hourly AQI of 100,000 station-hours, about 6×
faster than numpy) is plain C on the CPython API; where it is not built,
``shanshui.standards.aqi_formula`` uses its numpy twin (same results, slower).
"""

import sys

from mypyc.build import mypycify
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The decode/encode path: CRC, value text, segment parser, message, frame splitter, errors,
# encoder.
COMPILED = [
    "src/shanshui/hj212/crc.py",
    "src/shanshui/hj212/errors.py",
    "src/shanshui/hj212/values.py",
    "src/shanshui/hj212/segment.py",
    "src/shanshui/hj212/message.py",
    "src/shanshui/hj212/decoder.py",
    "src/shanshui/hj212/encode.py",
]


#: HJ 633-2012 formula (1) as a loop; -ffp-contract=off keeps multiply and add two IEEE
#: operations, as numpy does them (bit-identical results, see the C file);
#: -fno-trapping-math lets the compiler turn selects on NaN tests into SIMD code (it changes
#: no value: floating-point exceptions are never looked at).
AQI_KERNEL = Extension(
    "shanshui.standards._aqi_kernel",
    sources=["src/shanshui/standards/_aqi_kernel.c"],
)
GCC_LIKE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]

#: The gateway's ack-path scan (split, length, CRC, header; ``shanshui.hj212.scan``): the
#: compiled twin of ``scan_frames_py``; without it the gateway uses the Python version.
SCAN = Extension("shanshui.hj212._scan", sources=["src/shanshui/hj212/_scan.c"])
OPTIONAL = (AQI_KERNEL, SCAN)


class OptionalBuildExt(build_ext):
    """Compile the codec where a C compiler works; otherwise keep it pure Python."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":  # gcc or clang: the flags above
            AQI_KERNEL.extra_compile_args = [*AQI_KERNEL.extra_compile_args, *GCC_LIKE_FLAGS]
            SCAN.extra_compile_args = [*SCAN.extra_compile_args, "-O3"]
        super().build_extensions()

    def build_extension(self, ext: Extension) -> None:
        if ext not in OPTIONAL:
            super().build_extension(ext)
            return
        try:  # the AQI loop or the scan alone failing leaves the codec compiled
            super().build_extension(ext)
        except Exception as exc:
            print(
                f"warning: {ext.name} is not compiled ({exc}); using its Python twin",
                file=sys.stderr,
            )

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, or it failed: the .py modules still work
            print(
                f"warning: the HJ 212 codec and the AQI loop are not compiled ({exc}); "
                "using pure Python and numpy",
                file=sys.stderr,
            )


setup(
    ext_modules=[
        *mypycify(
            # pyproject.toml's [tool.mypy] also configures shanshui.standards, not compiled
            # here.
            ["--no-warn-unused-configs", *COMPILED],
            opt_level="3",
            group_name="shanshui_hj212",
        ),
        AQI_KERNEL,
        SCAN,
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
