"""Encryption at rest for secrets the service must give back to a connector later.

Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) with a key ring: the
first key encrypts, every key decrypts, so keys rotate by putting a new one first and
keeping the old ones until :meth:`KeyRing.rotate` has re-encrypted the stored values
(docs/configuration.md, "Secret keys and rotation"). Keys come from configuration,
never from the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class KeyRingError(ValueError):
    """A key is malformed, or a ciphertext was made with none of the ring's keys."""


def key_id(key: str) -> str:
    """A short, non-secret fingerprint of ``key`` (a truncated SHA-256 of it)."""
    return hashlib.sha256(b"scimserver-key-id:" + key.strip().encode()).hexdigest()[:12]


class KeyRing:
    """Encrypts with the first key; decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except ValueError:
            raise KeyRingError(
                "each key must be 32 url-safe base64-encoded bytes (a Fernet key)"
            ) from None
        self.size = len(keys)
        #: Fingerprints of the keys, first (encrypting) key first: stored next to a
        #: ciphertext so rotation can tell which rows still use an old key.
        self.key_ids = tuple(key_id(k) for k in keys)

    @property
    def primary_key_id(self) -> str:
        """The fingerprint of the key new values are encrypted with."""
        return self.key_ids[0]

    def __repr__(self) -> str:
        return f"KeyRing(<{self.size} key(s)>)"

    @staticmethod
    def generate_key() -> str:
        """A new random key, in the form the configuration expects."""
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise KeyRingError("the value was not encrypted with any key of this ring") from None

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext, re-encrypted with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise KeyRingError("the value was not encrypted with any key of this ring") from None
