"""Device passwords, kept only as salted scrypt hashes (RFC 7914, ``hashlib.scrypt``).

HJ 212 devices send their password (PW) in every frame. Verifying scrypt costs tens of
milliseconds by design, so :func:`verify_password` remembers recent answers: a gateway checks
each (hash, password) pair once, not once per frame.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

#: scrypt cost: N = 2**14, r = 8, p = 1 (16 MiB, the interactive-login figure of RFC 7914 §2).
N, R, P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password`` with a fresh 16-byte salt."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


@lru_cache(maxsize=65536)
def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (from :func:`hash_password`); False if malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=2**26, dklen=len(expected),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)
