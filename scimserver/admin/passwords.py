"""Console passwords, hashed with scrypt from the standard library (``hashlib.scrypt``).

scrypt is memory-hard, and the standard library's binding is OpenSSL's, so no new
dependency is needed. The parameters follow OWASP's Password Storage Cheat Sheet
(N=2^15, r=8, p=3: 32 MiB per hash) and are stored inside each hash, so they can be
raised later without invalidating existing passwords (:func:`needs_rehash`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

N, R, P = 2**15, 8, 3  # tests lower N and P through monkeypatch for speed
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 12
MAX_LENGTH = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) for a new password."""
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches; constant-time, and False for any malformed hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt" or len(password) > MAX_LENGTH:
            return False
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


@functools.cache
def dummy_hash() -> str:
    """Verified against when the email is unknown, so both failures take the same time."""
    return hash_password(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password must have at most {MAX_LENGTH} characters."
    return None
