"""Passwords (RFC 7643 4.1.1: writeOnly, returned never) are never stored in plain text."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.accounts import KeyRing
from scimserver import Settings, create_app
from tests.conftest import ScimClient, new_org
from tests.server.test_users_api import PATCH, USER

KEY = KeyRing.generate_key()


def stored(app: Any, slug: str, user_id: str) -> dict[str, Any]:
    store = app.extensions["scimcore"]["store"]
    with store.session(store.get_organization(slug).id) as session:
        data: dict[str, Any] = session.get("User", user_id, relations=False)
        return data


@pytest.fixture
def keyed_app(database_url: str) -> Any:
    return create_app(Settings(database_url=database_url, secret_keys=(KEY,)))


def test_without_a_key_ring_passwords_are_not_stored_at_all(app: Any, scim: ScimClient) -> None:
    user = scim.post("/Users", {"schemas": [USER], "userName": "p", "password": "s3cret!"})
    assert "password" not in stored(app, scim.slug, user.get_json()["id"])


def test_with_a_key_ring_passwords_are_stored_encrypted(keyed_app: Any) -> None:
    slug, token = new_org(keyed_app)
    scim = ScimClient(keyed_app.test_client(), slug, token)
    user = scim.post("/Users", {"schemas": [USER], "userName": "p", "password": "s3cret!"})
    assert "password" not in user.get_json()
    sealed = stored(keyed_app, slug, user.get_json()["id"])["password"]
    assert "s3cret" not in sealed and KeyRing([KEY]).decrypt(sealed) == "s3cret!"


def test_put_without_password_keeps_it_and_patch_replaces_it(keyed_app: Any) -> None:
    slug, token = new_org(keyed_app)
    scim = ScimClient(keyed_app.test_client(), slug, token)
    uid = scim.post("/Users", {"schemas": [USER], "userName": "p", "password": "one"}).get_json()[
        "id"
    ]
    scim.put(f"/Users/{uid}", {"schemas": [USER], "userName": "p", "title": "Okta profile push"})
    assert KeyRing([KEY]).decrypt(stored(keyed_app, slug, uid)["password"]) == "one"
    scim.patch(
        f"/Users/{uid}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": "two"}}]},
    )
    assert KeyRing([KEY]).decrypt(stored(keyed_app, slug, uid)["password"]) == "two"
    scim.patch(
        f"/Users/{uid}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "title", "value": "unrelated"}],
        },
    )
    assert KeyRing([KEY]).decrypt(stored(keyed_app, slug, uid)["password"]) == "two"
