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
