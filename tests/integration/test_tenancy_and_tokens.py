"""Tenant isolation and the bearer-token lifecycle, observed through the live server.

Rules under test (docs/configuration.md, Tenant URL and token): the token selects the
organisation and a mismatch with the URL is a 401 that does not reveal whether the
organisation exists; one active token per organisation, and generating a new one kills
the old one at once on every gunicorn worker; revoke is immediate; tokens in the query
string are never accepted (RFC 6750 2.3 is optional and the project refuses it).

Requests that must reach both workers open a fresh connection each time, so the kernel
spreads them over the two accepting processes.
"""

from __future__ import annotations

from typing import Any

import requests

from .conftest import LiveServer, Org
from .support import (
    REQUEST_TIMEOUT,
    USER_SCHEMA,
    ScimSession,
    assert_list_response,
    assert_resource,
    assert_scim_error,
    describe,
    require_loopback,
    unique,
)

# Enough fresh connections that two workers both answer some of them.
REQUESTS_PER_CHECK = 24


def fresh_request(method: str, url: str, token: str | None, **kwargs: Any) -> requests.Response:
    """One request on a new connection (``Connection: close``), outside any session."""
    require_loopback(url)
    headers = {"Accept": "application/scim+json", "Connection": "close"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(kwargs.pop("headers", {}))
    with requests.Session() as session:
        session.trust_env = False
        return session.request(
            method, url, headers=headers, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
        )


def fresh_get(url: str, token: str | None, **kwargs: Any) -> requests.Response:
    return fresh_request("GET", url, token, **kwargs)


def assert_unauthorized(resp: requests.Response) -> dict[str, Any]:
    body = assert_scim_error(resp, 401)
    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), describe(resp)
    return body


def assert_token_accepted_everywhere(org: Org, token: str) -> None:
    for _ in range(REQUESTS_PER_CHECK):
        assert_list_response(fresh_get(f"{org.tenant_url}/Users?count=1", token))


def assert_token_refused_everywhere(org: Org, token: str) -> None:
    for _ in range(REQUESTS_PER_CHECK):
        assert_unauthorized(fresh_get(f"{org.tenant_url}/Users?count=1", token))


def test_orgs_create_reports_tenant_url_under_public_url(live_server: LiveServer) -> None:
    org = live_server.create_org("tenancy-url")

    assert org.tenant_url == f"{live_server.base_url}/scim/v2/organizations/{org.slug}"
    assert org.token.startswith("scim_")
    assert_list_response(fresh_get(f"{org.tenant_url}/Users", org.token))


def test_token_of_one_org_under_another_org_url_is_401_like_unknown_org(
    live_server: LiveServer,
) -> None:
    org_a = live_server.org
    org_b = live_server.create_org("tenancy-b")
    unknown_url = f"{live_server.base_url}/scim/v2/organizations/{unique('no-such-org-')}"

    cross = fresh_get(f"{org_b.tenant_url}/Users", org_a.token)
    unknown = fresh_get(f"{unknown_url}/Users", org_a.token)

    cross_body = assert_unauthorized(cross)
    unknown_body = assert_unauthorized(unknown)
    assert cross_body == unknown_body, "the 401 reveals whether the organisation exists"
    assert cross.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert_list_response(fresh_get(f"{org_b.tenant_url}/Users", org_b.token))


def test_org_cannot_read_or_write_another_orgs_user(live_server: LiveServer) -> None:
    org_b = live_server.create_org("tenancy-iso")
    with live_server.session(org_b, content_type="application/scim+json") as scim_b:
        user = assert_resource(
            scim_b.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("iso.")}), 201
        )
    with live_server.session(content_type="application/scim+json") as scim_a:
        assert_scim_error(scim_a.get(f"/Users/{user['id']}"), 404)
        assert_scim_error(scim_a.delete(f"/Users/{user['id']}"), 404)
        listed = assert_list_response(
            scim_a.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'})
        )
        assert listed["totalResults"] == 0
        # The same userName is free in another organisation.
        assert_resource(
            scim_a.post("/Users", json={"schemas": [USER_SCHEMA], "userName": user["userName"]}),
            201,
        )
        cross = scim_a.get(f"{org_b.tenant_url}/Users/{user['id']}")
        assert_unauthorized(cross)


def test_token_rotation_kills_old_token_on_every_worker(live_server: LiveServer) -> None:
    org = live_server.create_org("tenancy-rotate")
    assert_token_accepted_everywhere(org, org.token)

    new_token = live_server.generate_token(org)

    assert new_token != org.token
    assert_token_refused_everywhere(org, org.token)
    assert_token_accepted_everywhere(org, new_token)


def test_revoked_token_is_refused_on_every_worker(live_server: LiveServer) -> None:
    org = live_server.create_org("tenancy-revoke")
    assert_token_accepted_everywhere(org, org.token)

    live_server.cli("token", "revoke", org.name)

    assert_token_refused_everywhere(org, org.token)
    assert_token_accepted_everywhere(org, live_server.generate_token(org))


def test_token_in_query_string_is_never_accepted(live_server: LiveServer) -> None:
    url = f"{live_server.tenant_url}/Users"

    for params in (
        {"access_token": live_server.token},
        {"access_token": f"Bearer {live_server.token}"},
    ):
        assert_unauthorized(fresh_get(url, None, params=params))


def test_token_in_form_body_is_never_accepted(live_server: LiveServer) -> None:
    resp = fresh_request(
        "POST",
        f"{live_server.tenant_url}/Users/.search",
        None,
        data={"access_token": live_server.token},
    )

    assert_unauthorized(resp)


def test_missing_or_malformed_authorization_is_401_with_bearer_challenge(
    live_server: LiveServer,
) -> None:
    url = f"{live_server.tenant_url}/Users"
    token = live_server.token
    variants: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {token}"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": "Bearer scim_"},
        {"Authorization": f"Token {token}"},
    ]

    for headers in variants:
        resp = fresh_get(url, None, headers=headers)
        assert resp.status_code == 401, f"{headers!r}\n{describe(resp)}"
        assert_unauthorized(resp)


def test_bearer_scheme_is_case_insensitive(live_server: LiveServer) -> None:
    """RFC 7235 2.1: the auth-scheme is case-insensitive."""
    resp = fresh_get(
        f"{live_server.tenant_url}/Users?count=1",
        None,
        headers={"Authorization": f"bearer {live_server.token}"},
    )

    assert_list_response(resp)


def test_discovery_endpoints_require_the_token(live_server: LiveServer) -> None:
    for path in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas"):
        assert_unauthorized(fresh_get(f"{live_server.tenant_url}{path}", None))
        resp = fresh_get(f"{live_server.tenant_url}{path}", live_server.token)
        assert resp.status_code == 200, describe(resp)


def test_workers_share_one_database(live_server: LiveServer, scim: ScimSession) -> None:
    user = assert_resource(
        scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("shared.")}), 201
    )

    for _ in range(REQUESTS_PER_CHECK):
        got = assert_resource(
            fresh_get(f"{live_server.tenant_url}/Users/{user['id']}", live_server.token), 200
        )
        assert got["userName"] == user["userName"]

    created = []
    for _ in range(6):
        resp = fresh_request(
            "POST",
            f"{live_server.tenant_url}/Users",
            live_server.token,
            json={"schemas": [USER_SCHEMA], "userName": unique("shared.many.")},
        )
        created.append(assert_resource(resp, 201))
    for user in created:
        for _ in range(4):
            resp = fresh_get(
                f"{live_server.tenant_url}/Users",
                live_server.token,
                params={"filter": f'userName eq "{user["userName"]}"'},
            )
            assert assert_list_response(resp)["totalResults"] == 1
