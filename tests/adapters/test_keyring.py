"""The key ring that encrypts service passwords at rest (docs/configuration.md)."""

from __future__ import annotations

import pytest

from scimcore.accounts import KeyRing, KeyRingError


def test_ciphertext_is_authenticated_and_not_the_plaintext() -> None:
    ring = KeyRing([KeyRing.generate_key()])
    token = ring.encrypt("p@ss,word")
    assert "p@ss" not in token
    assert ring.decrypt(token) == "p@ss,word"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(KeyRingError):
        ring.decrypt(tampered)


def test_rotation_reads_old_values_and_rewrites_them_with_the_new_key() -> None:
    old, new = KeyRing.generate_key(), KeyRing.generate_key()
    token = KeyRing([old]).encrypt("secret")
    rotated_ring = KeyRing([new, old])
    assert rotated_ring.decrypt(token) == "secret"
    rotated = rotated_ring.rotate(token)
    assert KeyRing([new]).decrypt(rotated) == "secret"
    with pytest.raises(KeyRingError):
        KeyRing([new]).decrypt(token)


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(KeyRingError) as exc:
        KeyRing(["not-a-key"])
    assert "not-a-key" not in str(exc.value)
    assert "not-a-key" not in repr(KeyRing([KeyRing.generate_key()]))
