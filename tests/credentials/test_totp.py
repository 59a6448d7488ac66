"""RFC 6238 TOTP, checked against the test vectors of its appendix B."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from scimcore.adapters.connectors.credentials import CredentialError, IdPassword
from scimcore.adapters.connectors.totp import (
    TotpSecretError,
    decode_base32_secret,
    hotp,
    totp,
    totp_from_base32,
)

# RFC 6238 appendix B: the seeds are the ASCII digits repeated to the hash's key size.
SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"
SEEDS = {"sha1": SEED_SHA1, "sha256": SEED_SHA256, "sha512": SEED_SHA512}

APPENDIX_B = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), APPENDIX_B)
def test_totp_matches_rfc6238_appendix_b_vectors(
    at: int, sha1: str, sha256: str, sha512: str
) -> None:
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[algorithm], at, digits=8, algorithm=algorithm) == expected  # type: ignore[arg-type]


def test_six_digit_code_is_the_last_six_digits_of_the_rfc_value() -> None:
    # Dynamic truncation modulo 10^6 instead of 10^8: the 8-digit vector's tail.
    assert totp(SEED_SHA1, 59) == "287082"
    assert totp(SEED_SHA1, 1111111109) == "081804"


def test_hotp_matches_rfc4226_appendix_d_vectors() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314"]
    assert [hotp(SEED_SHA1, i) for i in range(5)] == expected


def test_codes_change_every_thirty_seconds() -> None:
    assert totp(SEED_SHA1, 60) == totp(SEED_SHA1, 89.9)
    assert totp(SEED_SHA1, 89.9) != totp(SEED_SHA1, 90)


def test_base32_seed_as_authenticator_apps_show_it_is_accepted() -> None:
    b32 = base64.b32encode(SEED_SHA1).decode()
    shown = " ".join(b32[i : i + 4] for i in range(0, len(b32), 4)).lower().rstrip("=")
    assert decode_base32_secret(shown) == SEED_SHA1
    assert totp_from_base32(shown, 59) == "287082"


def test_invalid_base32_seed_is_refused_without_echoing_it() -> None:
    with pytest.raises(TotpSecretError) as exc:
        decode_base32_secret("not base32 at all 0189!")
    assert "0189" not in str(exc.value)
    with pytest.raises(CredentialError) as cred_exc:
        IdPassword("admin", "pw", totp_secret="!!secret-seed!!")
    assert "secret-seed" not in str(cred_exc.value)


def test_id_password_credential_computes_the_current_code() -> None:
    seed = base64.b32encode(SEED_SHA1).decode()
    cred = IdPassword("admin@example.com", "pw", totp_secret=seed)
    at = datetime.fromtimestamp(1111111109, UTC)
    assert cred.current_totp(at) == "081804"
    assert len(cred.current_totp()) == 6
    with pytest.raises(CredentialError):
        IdPassword("admin@example.com", "pw").current_totp()
