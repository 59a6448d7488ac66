"""The Host header, when the service builds its URLs from it (no SCIMSERVER_PUBLIC_URL).

An attack run sent ``Host: evil.example/foo?``, ``user@evil.example``,
``evil.example:99999`` and an empty Host: each ``POST /Users`` was a 201 with
``Location: http:///scim/...`` and another broken ``meta.location``.
"""

from __future__ import annotations

from typing import Any

import pytest

from scimserver.base_url import valid_host
from tests.conftest import new_org

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BAD_HOSTS = [
    "evil.example/foo?",
    "user@evil.example",
    "evil.example:99999",
    "evil.example:0",
    "evil.example:",
    "",
    "[not-ipv6]",
    "[::1",
    "evil example",
    "evil.example:80:80",
]
GOOD_HOSTS = ["scim.example.com", "scim.example.com:8443", "127.0.0.1:8000", "[::1]:8080", "h_1"]


def _app(database_url: str, public_url: str | None) -> Any:
    from scimserver import Settings, create_app

    return create_app(Settings(database_url=database_url, public_url=public_url))


def _post_user(client: Any, slug: str, token: str, host: str, name: str) -> Any:
    return client.post(
        f"/scim/v2/organizations/{slug}/Users",
        json={"schemas": [USER], "userName": name},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        environ_overrides={"HTTP_HOST": host},
    )


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_host_that_is_no_host_is_a_scim_400_and_nothing_is_created(
    database_url: str, host: str
) -> None:
    app = _app(database_url, None)
    slug, token = new_org(app)
    client = app.test_client()
    response = _post_user(client, slug, token, host, "bjensen@example.com")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "400"
    assert "scimType" not in body
    assert "Host header" in body["detail"]
    listed = client.get(
        f"/scim/v2/organizations/{slug}/Users",
        headers={"Authorization": f"Bearer {token}"},
        environ_overrides={"HTTP_HOST": "scim.example.com"},
    )
    assert listed.get_json()["totalResults"] == 0


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_a_valid_host_names_the_location_of_the_new_user(database_url: str, host: str) -> None:
    app = _app(database_url, None)
    slug, token = new_org(app)
    response = _post_user(app.test_client(), slug, token, host, "bjensen@example.com")
    assert response.status_code == 201, response.get_data(as_text=True)
    expected = f"http://{host}/scim/v2/organizations/{slug}/Users/"
    assert response.headers["Location"].startswith(expected)
    assert response.get_json()["meta"]["location"] == response.headers["Location"]


def test_the_openapi_document_refuses_a_bad_host_too(database_url: str) -> None:
    app = _app(database_url, None)
    response = app.test_client().get(
        "/scim/v2/openapi.json", environ_overrides={"HTTP_HOST": "user@evil.example"}
    )
    assert response.status_code == 400
    assert "Host header" in response.get_json()["detail"]


@pytest.mark.parametrize("host", ["evil.example/foo?", "", "evil.example:99999"])
def test_with_a_public_url_the_host_is_not_read(database_url: str, host: str) -> None:
    app = _app(database_url, "https://scim.example.com")
    slug, token = new_org(app)
    response = _post_user(app.test_client(), slug, token, host, "bjensen@example.com")
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://scim.example.com/scim/v2/")


@pytest.mark.parametrize(
    "host", ["a.b", "A-1.example", "192.0.2.1", "[2001:db8::1]", "x:1", "x:65535"]
)
def test_hosts_rfc_3986_allows_are_valid(host: str) -> None:
    assert valid_host(host)


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_hosts_that_would_break_a_url_are_not_valid(host: str) -> None:
    assert not valid_host(host)
