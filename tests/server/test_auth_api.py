"""Bearer authentication and tenant isolation at the HTTP boundary (RFC 6750, RFC 7644 2)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.conftest import ScimClient, make_jwt, new_org
from tests.server.test_users_api import USER, assert_error, new_user


def assert_401(response: Any) -> None:
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_missing_authorization_is_401_with_www_authenticate(scim: ScimClient) -> None:
    assert_401(scim.client.get(f"{scim.base}/Users"))


@pytest.mark.parametrize("header", ["non-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_malformed_authorization_is_401(scim: ScimClient, header: str) -> None:
    assert_401(scim.client.get(f"{scim.base}/Users", headers={"Authorization": header}))


def test_unknown_token_is_401(scim: ScimClient) -> None:
    assert_401(scim.get("/Users", token="scim_" + "A" * 43))


def test_token_of_another_organization_is_401_and_looks_like_an_unknown_org(
    app: Any, scim: ScimClient
) -> None:
    other_slug, _ = new_org(app)
    cross = scim.client.get(
        f"/scim/v2/organizations/{other_slug}/Users",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    unknown = scim.client.get(
        "/scim/v2/organizations/no-such-org/Users",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert_401(cross)
    assert_401(unknown)
    assert cross.get_json() == unknown.get_json()


def test_token_in_query_string_is_never_accepted(scim: ScimClient) -> None:
    assert_401(scim.client.get(f"{scim.base}/Users?access_token={scim.token}"))


def test_generating_a_new_token_kills_the_old_one_at_once(app: Any, scim: ScimClient) -> None:
    from scimcore import issue_token

    store = app.extensions["scimcore"]["store"]
    assert scim.get("/Users").status_code == 200
    fresh = issue_token(store, store.get_organization(scim.slug)).token
    assert_401(scim.get("/Users"))
    assert scim.get("/Users", token=fresh).status_code == 200


def test_revoked_token_is_401(app: Any, scim: ScimClient) -> None:
    store = app.extensions["scimcore"]["store"]
    assert store.revoke_token(store.get_organization(scim.slug).id)
    assert_401(scim.get("/Users"))


def test_tenants_never_see_each_others_users(app: Any, scim: ScimClient) -> None:
    slug, token = new_org(app)
    other = ScimClient(app.test_client(), slug, token)
    mine = new_user(scim, "private@example.com")
    assert other.get(f"/Users/{mine['id']}").status_code == 404
    assert other.delete(f"/Users/{mine['id']}").status_code == 404
    assert (
        other.get('/Users?filter=userName eq "private@example.com"').get_json()["totalResults"] == 0
    )
    assert other.get("/Users").get_json()["totalResults"] == 0


def test_jwt_with_matching_organization_claim_is_accepted(jwt_app: Any) -> None:
    slug, _ = new_org(jwt_app)
    client = ScimClient(jwt_app.test_client(), slug, make_jwt(org=slug))
    assert client.post("/Users", {"schemas": [USER], "userName": "jwt-user"}).status_code == 201


@pytest.mark.parametrize(
    "claims",
    [
        {"org": "someone-else"},
        {"exp": int(time.time()) - 3600},
        {"iss": "https://evil.example.com"},
        {"aud": "other"},
        {"org": None},
    ],
    ids=["other-org", "expired", "wrong-issuer", "wrong-audience", "no-org-claim"],
)
def test_jwt_that_fails_any_check_is_401(jwt_app: Any, claims: dict[str, Any]) -> None:
    slug, _ = new_org(jwt_app)
    merged = {k: v for k, v in ({"org": slug} | claims).items() if v is not None}
    assert_401(ScimClient(jwt_app.test_client(), slug, make_jwt(**merged)).get("/Users"))


def test_jwt_signed_with_another_key_is_401(jwt_app: Any) -> None:
    slug, _ = new_org(jwt_app)
    forged = jwt.encode(
        {
            "org": slug,
            "exp": int(time.time()) + 60,
            "iss": "https://idp.example.com",
            "aud": "scim",
        },
        "wrong-key" * 5,
    )
    assert_401(ScimClient(jwt_app.test_client(), slug, forged).get("/Users"))


# -- one switch for an organization's SCIM access (token revoke, orgs disable) ---------------


def test_revoking_refuses_jwts_too_and_a_new_token_restores_access(jwt_app: Any) -> None:
    from scimcore import issue_token

    slug, token = new_org(jwt_app)
    store = jwt_app.extensions["scimcore"]["store"]
    org = store.get_organization(slug)
    with_jwt = ScimClient(jwt_app.test_client(), slug, make_jwt(org=slug))
    assert with_jwt.get("/Users").status_code == 200
    assert store.revoke_token(org.id)
    assert_401(with_jwt.get("/Users"))
    assert_401(with_jwt.get("/Users", token=token))
    fresh = issue_token(store, org).token
    assert with_jwt.get("/Users", token=fresh).status_code == 200
    assert with_jwt.get("/Users").status_code == 200


def test_a_disabled_organization_refuses_both_kinds_of_token_until_enabled(
    jwt_app: Any,
) -> None:
    slug, token = new_org(jwt_app)
    store = jwt_app.extensions["scimcore"]["store"]
    org = store.get_organization(slug)
    client = ScimClient(jwt_app.test_client(), slug, token)
    unknown = client.client.get(
        "/scim/v2/organizations/no-such-org/Users", headers={"Authorization": f"Bearer {token}"}
    )
    store.set_scim_access(org.id, False)
    for credential in (token, make_jwt(org=slug)):
        refused = client.get("/Users", token=credential)
        assert_401(refused)
        assert refused.get_json() == unknown.get_json()  # nothing tells it apart
    store.set_scim_access(org.id, True)
    assert client.get("/Users").status_code == 200
    assert client.get("/Users", token=make_jwt(org=slug)).status_code == 200
