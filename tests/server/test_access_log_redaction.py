"""The rule that decides which query parameters the access log masks (scimserver.access_log)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from scimserver.access_log import RedactingLogger, is_secret_name, redact_query, redact_uri
from scimserver.log_redaction import mask_credentials, masked_logger


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


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            f"/scim/v2/organizations/acme/Users/{TOKEN}",
            "/scim/v2/organizations/acme/Users/[redacted]",
        ),
        (f"/scim/v2/organizations/{TOKEN}/Users", "/scim/v2/organizations/[redacted]/Users"),
        (f"/Users?{TOKEN}=1&count=2", "/Users?[redacted]=1&count=2"),
        (f"GET /Users?{JWT} HTTP/1.1", "GET /Users?[redacted] HTTP/1.1"),
        (f"curl/8.0 ({TOKEN})", "curl/8.0 ([redacted])"),
        (f"Bearer {JWT}", "Bearer [redacted]"),
        ("/Users/scim%5F" + TOKEN[5:], "/Users/[redacted]"),  # percent-encoded in the path
        (f"https://idp.example/cb?x=1#{TOKEN}", "https://idp.example/cb?x=1#[redacted]"),
    ],
)
def test_a_credential_anywhere_in_logged_text_is_masked(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "/scim/v2/organizations/acme/Users/2819c223-7f76-453a-919d-413861904646",
        "GET /Users?filter=userName%20eq%20%22scim_bob%22 HTTP/1.1",
        "Okta SCIM Client 1.0.0",
        "-",
    ],
)
def test_text_without_a_credential_is_logged_as_sent(text: str) -> None:
    assert mask_credentials(text) == text


def test_every_access_log_atom_is_masked() -> None:
    from types import SimpleNamespace

    from gunicorn.config import Config

    logger = RedactingLogger(Config())
    headers = [
        ("USER-AGENT", f"bot {TOKEN}"),
        ("REFERER", f"https://x.example/{TOKEN}"),
        ("X-TRACE", JWT),
    ]
    req = SimpleNamespace(headers=headers, method="GET", path=f"/Users/{TOKEN}", query="")
    resp = SimpleNamespace(status="404 Not Found", headers=[], sent=10, response_length=10)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/Users/{TOKEN}?{TOKEN}=1",
        "PATH_INFO": f"/Users/{TOKEN}",
        "QUERY_STRING": f"{TOKEN}=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": f"bot {TOKEN}",
        "HTTP_REFERER": f"https://x.example/{TOKEN}",
    }
    atoms = logger.atoms(resp, req, environ, timedelta(0))
    assert not [key for key, value in atoms.items() if TOKEN in str(value) or JWT in str(value)]
    assert atoms["r"] == "GET /Users/[redacted]?[redacted]=1 HTTP/1.1"
    assert atoms["a"] == "bot [redacted]"


def test_log_records_of_the_service_are_masked_message_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = masked_logger("scimserver.test-masking")
    try:
        raise ValueError(f"bad path /Users/{TOKEN}")
    except ValueError:
        with caplog.at_level(logging.WARNING, logger="scimserver.test-masking"):
            log.exception("unexpected error handling %s %s", "GET", f"/Users/{JWT}")
    text = caplog.text
    assert "unexpected error handling GET /Users/[redacted]" in text
    assert "ValueError: bad path /Users/[redacted]" in text
    assert TOKEN not in text and JWT not in text


def test_the_core_library_log_lines_are_masked_once_the_app_exists(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """``scimcore.service`` logs a request's path when it gives up on conflicts."""
    with caplog.at_level(logging.WARNING, logger="scimcore.service"):
        logging.getLogger("scimcore.service").warning("GET %s lost conflicts", f"/Users/{TOKEN}")
    assert "GET /Users/[redacted] lost conflicts" in caplog.text
    assert TOKEN not in caplog.text


def test_a_faulty_log_call_still_does_not_raise_where_it_is_made() -> None:
    """A filter that raised would turn logging's "--- Logging error ---" report into an
    exception in the code that logged."""
    record = logging.LogRecord("scimserver", logging.WARNING, __file__, 1, "%s %s", ("a",), None)
    assert masked_logger("scimserver").filters[0].filter(record) is True
