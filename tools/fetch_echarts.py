"""Install ECharts for the portal without npm: fetch the tarball package-lock.json pins.

``make assets`` runs ``npm ci`` and copies ``node_modules/echarts/dist/echarts.min.js``;
where npm is missing (or fails) it runs this script instead, which needs only Python:

    python3 tools/fetch_echarts.py src/shanshui/web/static/vendor/echarts.min.js

It reads the version and the ``integrity`` (Subresource-Integrity sha512) of
``node_modules/echarts`` from package-lock.json, downloads the same tarball from the npm
registry (``$npm_config_registry`` if set), refuses it unless its sha512 matches, and writes
``package/dist/echarts.min.js`` (and the package's LICENSE and NOTICE beside it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REGISTRY = "https://registry.npmjs.org/"


def pinned(lock: Path) -> tuple[str, str, str]:
    """(version, integrity, tarball URL) of echarts in an npm lockfile (v2/v3)."""
    entry = json.loads(lock.read_text())["packages"]["node_modules/echarts"]
    registry = os.environ.get("npm_config_registry", DEFAULT_REGISTRY)  # noqa: SIM112 - npm's name.rstrip("/") + "/"
    version = entry["version"]
    url = entry.get("resolved") or f"{registry}echarts/-/echarts-{version}.tgz"
    return version, entry["integrity"], url


def verify(blob: bytes, integrity: str) -> None:
    """Refuse ``blob`` unless it matches the lockfile's ``sha512-<base64>`` integrity."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch: expected {expected}, got {actual}")


def extract(blob: bytes, target: Path) -> None:
    """Write the tarball's dist/echarts.min.js to ``target`` and LICENSE/NOTICE beside it."""
    wanted = {
        "package/dist/echarts.min.js": target,
        "package/LICENSE": target.with_name("ECHARTS_LICENSE.txt"),
        "package/NOTICE": target.with_name("ECHARTS_NOTICE.txt"),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            out = wanted.get(member.name)
            if out is None or not member.isfile():
                continue
            data = tar.extractfile(member)
            if data is not None:
                out.write_bytes(data.read())
    if not target.is_file():
        raise SystemExit("the tarball has no package/dist/echarts.min.js")


def main(argv: list[str]) -> int:
    default = ROOT / "src/shanshui/web/static/vendor/echarts.min.js"
    target = Path(argv[1]) if len(argv) > 1 else default
    version, integrity, url = pinned(ROOT / "package-lock.json")
    with urllib.request.urlopen(url, timeout=60) as response:
        blob = response.read()
    verify(blob, integrity)
    extract(blob, target)
    print(f"echarts {version}: {url} verified ({integrity[:20]}…), wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
