"""/Me (RFC 7644 3.11): the user a JWT's subject names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ScimClient, make_jwt, new_org
from tests.server.test_users_api import PATCH, USER, assert_error


def me_client(jwt_app: Any, subject: str | None) -> tuple[ScimClient, ScimClient]:
    slug, token = new_org(jwt_app)
    admin = ScimClient(jwt_app.test_client(), slug, token)
    claims = {"org": slug} | ({"sub": subject} if subject else {})
    return admin, ScimClient(jwt_app.test_client(), slug, make_jwt(**claims))


def test_me_reads_and_patches_the_subjects_user(jwt_app: Any) -> None:
    admin, me = me_client(jwt_app, "Pat@Example.com")
    created = admin.post("/Users", {"schemas": [USER], "userName": "pat@example.com"}).get_json()
    got = me.get("/Me")
    assert got.status_code == 200 and got.get_json()["id"] == created["id"]
    assert got.headers["Location"].endswith(f"/Users/{created['id']}")
    patched = me.patch(
        "/Me",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "Pat"}]},
    )
    assert patched.get_json()["nickName"] == "Pat"


def test_me_by_subject_id(jwt_app: Any) -> None:
    slug, token = new_org(jwt_app)
    admin = ScimClient(jwt_app.test_client(), slug, token)
    user = admin.post("/Users", {"schemas": [USER], "userName": "someone"}).get_json()
    me = ScimClient(jwt_app.test_client(), slug, make_jwt(org=slug, sub=user["id"]))
    assert me.get("/Me").get_json()["userName"] == "someone"


def test_me_for_an_unknown_subject_is_404(jwt_app: Any) -> None:
    _, me = me_client(jwt_app, "ghost@example.com")
    assert_error(me.get("/Me"), 404)


@pytest.mark.parametrize("subject", ["a\x00b", "a\ud800b", "x" * 5000, 'q"uote\\'])
def test_me_for_a_subject_no_user_can_have_is_404_without_internal_text(
    jwt_app: Any, subject: str
) -> None:
    """The filter built from the subject is the service's, not the client's."""
    _, me = me_client(jwt_app, subject)
    error = assert_error(me.get("/Me"), 404)
    assert " or userName eq " not in error["detail"] and "filter" not in error["detail"]


def test_me_with_the_organization_secret_token_is_501(scim: ScimClient) -> None:
    assert_error(scim.get("/Me"), 501)


def test_post_to_me_is_405(jwt_app: Any) -> None:
    _, me = me_client(jwt_app, "pat@example.com")
    assert_error(me.post("/Me", {"schemas": [USER], "userName": "x"}), 405)
