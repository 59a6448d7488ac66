"""The rule that decides which query parameters the access log masks (scimserver.access_log)."""

from __future__ import annotations

import pytest

from scimserver.access_log import is_secret_name, redact_query, redact_uri


@pytest.mark.parametrize(
    "name",
    [
        "access_token",
        "token",
        "id_token",
        "refresh_token",
        "code",
        "state",
        "client_secret",
        "password",
        "key",
        "api_key",
        "apiKey",
        "X-Auth-Token",
        "userPassword",
        "access%5Ftoken",  # percent-encoded names are decoded first
        "ACCESS_TOKEN",
        "client_assertion",
        "sig",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["filter", "count", "startIndex", "attributes", "excludedAttributes", "sortBy", "cursor"],
)
def test_scim_query_parameters_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_only_secret_values_are_masked_and_the_rest_kept_byte_for_byte() -> None:
    query = "filter=userName%20eq%20%22a%22&access_token=abc&count=5&Password=x&flag&code="
    assert redact_query(query) == (
        "filter=userName%20eq%20%22a%22&access_token=[redacted]&count=5"
        "&Password=[redacted]&flag&code=[redacted]"
    )


def test_uri_without_query_is_unchanged() -> None:
    assert redact_uri("/scim/v2/organizations/a/Users") == "/scim/v2/organizations/a/Users"
    assert redact_uri("/cb?code=1&state=2") == "/cb?code=[redacted]&state=[redacted]"


@pytest.mark.parametrize(
    "name",
    [
        "authorization",
        "bearer",
        "auth",
        "jwt",
        "api-key",
        "X-API-Key",
        "private_key",
        "pass",
        "passcode",
        "otp",
        "SAMLResponse",
        "X-Amz-Signature",
    ],
)
def test_names_an_attack_run_hid_a_token_under_are_secret(name: str) -> None:
    assert is_secret_name(name)


TOKEN = "scim_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJvcmciOiJhY21lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize("value", [TOKEN, JWT, f"Bearer%20{TOKEN}", f"x{TOKEN}y"])
def test_a_token_or_jwt_is_masked_whatever_the_parameter_is_called(value: str) -> None:
    assert redact_query(f"count=1&q={value}&filter=x") == "count=1&q=[redacted]&filter=x"


def test_values_that_only_resemble_a_token_are_kept() -> None:
    query = "filter=userName%20eq%20%22scim_bob%22&cursor=WyJhIiwiYiIsImMiXQ"
    assert redact_query(query) == query
