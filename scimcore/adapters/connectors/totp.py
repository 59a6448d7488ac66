"""Time-based one-time passwords (RFC 6238) on HMAC-based ones (RFC 4226).

ID/password credentials may carry the base32 TOTP seed of the admin account's second
factor; the code is computed at login time, never stored. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Literal

Algorithm = Literal["sha1", "sha256", "sha512"]

#: RFC 6238 4.1: the time step X and the start of the count T0 (the Unix epoch).
DEFAULT_STEP = 30
DEFAULT_DIGITS = 6

_SPACES = re.compile(r"[\s-]+")


class TotpSecretError(ValueError):
    """A TOTP seed is not valid base32. The message never contains the seed."""


def hotp(
    key: bytes, counter: int, *, digits: int = DEFAULT_DIGITS, algorithm: Algorithm = "sha1"
) -> str:
    """RFC 4226 5.3: HMAC of the 8-byte counter, dynamically truncated to ``digits``."""
    if not 6 <= digits <= 10:
        raise ValueError("a one-time password has 6 to 10 digits")
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, algorithm)).digest()
    offset = mac[-1] & 0x0F
    code = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(code % 10**digits).zfill(digits)


def totp(
    key: bytes,
    at: float,
    *,
    step: int = DEFAULT_STEP,
    digits: int = DEFAULT_DIGITS,
    algorithm: Algorithm = "sha1",
) -> str:
    """RFC 6238 4.2: the HOTP value of ``floor((at - T0) / step)`` with T0 = 0."""
    return hotp(key, int(at // step), digits=digits, algorithm=algorithm)


def decode_base32_secret(secret: str) -> bytes:
    """The key bytes of a base32 seed as authenticator apps show it (spaces, dashes,
    lower case and missing ``=`` padding tolerated)."""
    text = _SPACES.sub("", secret).upper()
    text += "=" * (-len(text) % 8)
    try:
        key = base64.b32decode(text, casefold=False)
    except (binascii.Error, ValueError):
        raise TotpSecretError("the TOTP secret is not valid base32") from None
    if not key:
        raise TotpSecretError("the TOTP secret is empty")
    return key


def totp_from_base32(secret: str, at: float, *, digits: int = DEFAULT_DIGITS) -> str:
    """The current code (SHA-1, 30-second step) for a base32 seed at time ``at``."""
    return totp(decode_base32_secret(secret), at, digits=digits)
