"""The portal's chart library is installed from what package-lock.json pins, verified.

``tools/fetch_echarts.py`` (the fallback of ``make assets`` without npm) must take the
version and the Subresource-Integrity sha512 from the lockfile and refuse any other bytes.
Reference: the SRI format is ``sha512-`` + base64 of the SHA-512 digest (W3C Subresource
Integrity §3.5), which npm lockfiles use.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fetcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_echarts", ROOT / "tools/fetch_echarts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lockfile_pins_echarts_with_sha512() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    wanted = package["dependencies"]["echarts"]
    entry = lock["packages"]["node_modules/echarts"]
    assert entry["version"] == wanted  # an exact pin, not a range
    assert entry["integrity"].startswith("sha512-")
    version, integrity, url = fetcher().pinned(ROOT / "package-lock.json")
    assert (version, integrity) == (wanted, entry["integrity"])
    assert url.endswith(f"/echarts/-/echarts-{wanted}.tgz")


def _tarball(payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("package/dist/echarts.min.js", payload), ("package/LICENSE", b"L")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_integrity_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    module = fetcher()
    blob = _tarball(b"/* echarts */")
    good = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    module.verify(blob, good)
    with pytest.raises(SystemExit, match="integrity mismatch"):
        module.verify(blob + b"\0", good)
    with pytest.raises(SystemExit, match="unsupported"):
        module.verify(blob, "sha1-AAAA")
    target = tmp_path / "vendor" / "echarts.min.js"
    module.extract(blob, target)
    assert target.read_bytes() == b"/* echarts */"
    assert (target.parent / "ECHARTS_LICENSE.txt").read_bytes() == b"L"
