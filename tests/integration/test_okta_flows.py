"""Okta's provisioning traffic replayed against the live server (docs/okta.md).

Requests carry Okta's headers (``User-Agent: Okta SCIM Client 1.0.0``, ``Accept:
application/scim+json``, bodies as ``application/json``), its URL encoding (``%20``/``%22``)
and its body shapes, including the parts a strict server might refuse: ``password`` and
``groups`` on create, ``meta`` on PUT, a no-path ``replace`` to deactivate, and ``id``
inside a group ``replace`` value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import LiveServer
from .support import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_SCHEMA,
    ScimSession,
    assert_empty_list_response,
    assert_list_response,
    assert_patch_accepted,
    assert_resource,
    assert_scim_error,
    assert_scim_json,
    assert_status,
    describe,
    filter_query,
    member_ids,
    okta_user_id,
    unique,
)

OKTA_HEADERS = {
    "User-Agent": "Okta SCIM Client 1.0.0",
    "Accept-Charset": "utf-8",
    "Accept-Encoding": "gzip,deflate",
}
# Okta's SCIM 2.0 SPEC Test (Runscope) sends these; user POSTs differ (see _SPEC_POST).
SPEC_TEST_GET_HEADERS = {
    "Content-Type": "application/scim+json; charset=utf-8",
    "Accept": "application/scim+json",
    "User-Agent": "OKTA SCIM Integration",
}
SPEC_TEST_POST_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/scim+json; charset=utf-8",
    "User-Agent": "OKTA SCIM Integration",
}
PAGE_SIZE = 100


@pytest.fixture
def okta(live_server: LiveServer) -> Iterator[ScimSession]:
    """A session sending what Okta's provisioning engine sends; JSON bodies as application/json."""
    with live_server.session(headers=OKTA_HEADERS) as session:
        yield session


def okta_user(user_name: str, given: str = "Test", family: str = "User") -> dict[str, Any]:
    """The create body of the Okta SCIM 2.0 reference, section "Create the user"."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": okta_user_id(),
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def new_login(prefix: str = "okta.user.") -> str:
    return f"{unique(prefix)}@okta.local"


def user_name_filter(user_name: str) -> str:
    return filter_query(f'userName eq "{user_name}"')


def existence_check(okta: ScimSession, user_name: str) -> dict[str, Any]:
    """Okta's "does this user exist" query, URL-encoded as Okta does it."""
    query = user_name_filter(user_name)
    return assert_list_response(okta.get(f"/Users?{query}&startIndex=1&count={PAGE_SIZE}"))


def create_user(okta: ScimSession, body: dict[str, Any]) -> dict[str, Any]:
    return assert_resource(okta.post("/Users", json=body), 201)


def deactivate_patch(active: bool) -> dict[str, Any]:
    return {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": active}}],
    }


def get_user(okta: ScimSession, user_id: str) -> dict[str, Any]:
    return assert_resource(okta.get(f"/Users/{user_id}"), 200)


def test_existence_check_for_unknown_user_returns_empty_list_response(okta: ScimSession) -> None:
    body = existence_check(okta, new_login("nobody."))

    assert body["totalResults"] == 0
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 0
    assert body.get("Resources", []) == []


def test_create_user_returns_201_full_user_location_and_no_password(
    okta: ScimSession, live_server: LiveServer
) -> None:
    sent = okta_user(new_login(), "Ada", "Lovelace")

    resp = okta.post("/Users", json=sent)

    user = assert_resource(resp, 201)
    location = resp.headers.get("Location")
    assert location == f"{live_server.tenant_url}/Users/{user['id']}", describe(resp)
    assert user["meta"]["location"] == location
    assert user["meta"]["resourceType"] == "User"
    assert user["userName"] == sent["userName"]
    assert user["name"]["givenName"] == "Ada"
    assert user["name"]["familyName"] == "Lovelace"
    assert user["emails"][0]["value"] == sent["userName"]
    assert user["displayName"] == "Ada Lovelace"
    assert user["locale"] == "en-US"
    assert user["externalId"] == sent["externalId"]
    assert user["active"] is True
    assert "password" not in user
    assert sent["password"] not in resp.text

    found = existence_check(okta, sent["userName"])
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == user["id"]
    assert "password" not in found["Resources"][0]


def test_create_duplicate_user_returns_409_error(okta: ScimSession) -> None:
    sent = okta_user(new_login())
    create_user(okta, sent)

    assert_scim_error(okta.post("/Users", json=sent), 409, "uniqueness")


def test_create_user_differing_only_in_case_returns_409(okta: ScimSession) -> None:
    sent = okta_user(new_login())
    create_user(okta, sent)

    upper = {**sent, "userName": sent["userName"].upper(), "externalId": okta_user_id()}
    assert_scim_error(okta.post("/Users", json=upper), 409, "uniqueness")


def test_get_user_by_id_returns_created_user(okta: ScimSession) -> None:
    sent = okta_user(new_login(), "Grace", "Hopper")
    created = create_user(okta, sent)

    user = get_user(okta, created["id"])

    assert user["id"] == created["id"]
    assert user["userName"] == sent["userName"]
    assert user["name"] == created["name"]
    assert user["emails"] == created["emails"]


def test_profile_update_put_replaces_whole_user(okta: ScimSession) -> None:
    created = create_user(okta, okta_user(new_login(), "Alan", "Turing"))
    current = get_user(okta, created["id"])
    put_body = {
        "schemas": [USER_SCHEMA],
        "id": current["id"],
        "userName": current["userName"],
        "name": {"givenName": "Alan M.", "middleName": "Mathison", "familyName": "Turing"},
        "emails": [
            {
                "primary": True,
                "value": current["userName"],
                "type": "work",
                "display": current["userName"],
            }
        ],
        "active": True,
        "groups": [],
        "meta": {"resourceType": "User"},
    }

    updated = assert_resource(okta.put(f"/Users/{created['id']}", json=put_body), 200)

    for user in (updated, get_user(okta, created["id"])):
        assert user["id"] == created["id"]
        assert user["name"]["givenName"] == "Alan M."
        assert user["name"]["middleName"] == "Mathison"
        assert user["name"]["familyName"] == "Turing"
        assert user["emails"][0]["display"] == current["userName"]
        assert user["active"] is True
        assert user["meta"]["resourceType"] == "User"


def test_deactivate_with_no_path_replace_keeps_user_readable_and_findable(
    okta: ScimSession,
) -> None:
    sent = okta_user(new_login())
    created = create_user(okta, sent)

    patched = assert_patch_accepted(
        okta.patch(f"/Users/{created['id']}", json=deactivate_patch(False))
    )

    if patched is not None:
        assert patched["active"] is False
    assert get_user(okta, created["id"])["active"] is False
    found = existence_check(okta, sent["userName"])
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == created["id"]
    assert found["Resources"][0]["active"] is False


def test_reactivate_with_no_path_replace_sets_active_true(okta: ScimSession) -> None:
    created = create_user(okta, okta_user(new_login()))
    assert_patch_accepted(okta.patch(f"/Users/{created['id']}", json=deactivate_patch(False)))

    patched = assert_patch_accepted(
        okta.patch(f"/Users/{created['id']}", json=deactivate_patch(True))
    )

    if patched is not None:
        assert patched["active"] is True
    assert get_user(okta, created["id"])["active"] is True


def test_aiw_app_deactivates_with_put_of_whole_user(okta: ScimSession) -> None:
    created = create_user(okta, okta_user(new_login()))
    current = get_user(okta, created["id"])
    body = {k: v for k, v in current.items() if k != "meta"} | {"active": False}

    updated = assert_resource(okta.put(f"/Users/{created['id']}", json=body), 200)

    assert updated["active"] is False
    assert get_user(okta, created["id"])["active"] is False


def test_password_sync_patch_is_accepted_and_password_never_returned(okta: ScimSession) -> None:
    created = create_user(okta, okta_user(new_login()))
    patch = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "replace", "value": {"password": "n3w-Secret!"}}],
    }

    resp = okta.patch(f"/Users/{created['id']}", json=patch)

    assert_patch_accepted(resp)
    assert "n3w-Secret!" not in resp.text
    assert "password" not in get_user(okta, created["id"])


def _import_all_users(okta: ScimSession, count: int) -> tuple[list[str], int]:
    """Page through /Users as Okta imports: startIndex=1, then +count while more remain."""
    ids: list[str] = []
    start, total = 1, None
    for _ in range(1000):
        body = assert_list_response(okta.get(f"/Users?startIndex={start}&count={count}"))
        assert body["startIndex"] == start
        assert body["itemsPerPage"] <= count
        if total is None:
            total = body["totalResults"]
        assert body["totalResults"] == total, "totalResults changed between pages"
        ids.extend(resource["id"] for resource in body.get("Resources", []))
        start += count
        if start > total:
            break
    else:
        pytest.fail("paging did not end within 1000 pages")
    assert total is not None
    return ids, total


def test_import_pages_cover_every_user_once_in_stable_order(okta: ScimSession) -> None:
    created = {create_user(okta, okta_user(new_login("okta.import.")))["id"] for _ in range(5)}

    first_page = assert_list_response(okta.get(f"/Users?startIndex=1&count={PAGE_SIZE}"))
    assert first_page["startIndex"] == 1
    ids, total = _import_all_users(okta, count=2)
    ids_again, total_again = _import_all_users(okta, count=2)

    assert len(ids) == len(set(ids)) == total, "a user appeared twice or was skipped"
    assert created <= set(ids)
    assert (ids_again, total_again) == (ids, total), "order changed between two imports"
    if total <= PAGE_SIZE:
        assert [r["id"] for r in first_page["Resources"]] == ids


def test_get_unknown_user_returns_404_error(okta: ScimSession) -> None:
    assert_scim_error(okta.get("/Users/010101001010101011001010101011"), 404)


def test_non_bearer_authorization_returns_401_error(okta: ScimSession) -> None:
    resp = okta.get("/Users?startIndex=1&count=1", headers={"Authorization": "non-token"})

    assert_scim_error(resp, 401)
    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), describe(resp)


def push_group(okta: ScimSession, display_name: str | None = None) -> dict[str, Any]:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": display_name or unique("Okta Group "),
        "members": [],
    }
    group = assert_resource(okta.post("/Groups", json=body), 201, schema=GROUP_SCHEMA)
    assert group["displayName"] == body["displayName"]
    return group


def get_group(okta: ScimSession, group_id: str) -> dict[str, Any]:
    return assert_resource(okta.get(f"/Groups/{group_id}"), 200, schema=GROUP_SCHEMA)


def patch_group(okta: ScimSession, group_id: str, *operations: dict[str, Any]) -> None:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}
    group = assert_patch_accepted(okta.patch(f"/Groups/{group_id}", json=body), schema=GROUP_SCHEMA)
    if group is not None:
        assert group["id"] == group_id


def rename_op(group_id: str, display_name: str) -> dict[str, Any]:
    """Okta's rename: a no-path replace whose value carries the read-only ``id``."""
    return {"op": "replace", "value": {"id": group_id, "displayName": display_name}}


def test_push_group_creates_group_readable_by_id_and_in_list(
    okta: ScimSession, live_server: LiveServer
) -> None:
    resp = okta.post(
        "/Groups",
        json={"schemas": [GROUP_SCHEMA], "displayName": unique("Okta Push "), "members": []},
    )

    group = assert_resource(resp, 201, schema=GROUP_SCHEMA)
    assert resp.headers.get("Location") == f"{live_server.tenant_url}/Groups/{group['id']}"
    assert get_group(okta, group["id"])["displayName"] == group["displayName"]
    listed = assert_list_response(okta.get(f"/Groups?startIndex=1&count={PAGE_SIZE}"))
    if listed["totalResults"] <= PAGE_SIZE:
        assert group["id"] in {g["id"] for g in listed["Resources"]}


def test_group_rename_patch_with_id_inside_value(okta: ScimSession) -> None:
    group = push_group(okta)
    new_name = unique("Okta Renamed ")

    patch_group(okta, group["id"], rename_op(group["id"], new_name))

    renamed = get_group(okta, group["id"])
    assert renamed["id"] == group["id"]
    assert renamed["displayName"] == new_name


def test_group_membership_patch_removes_and_adds_in_one_request(okta: ScimSession) -> None:
    leaver = create_user(okta, okta_user(new_login()))
    joiner = create_user(okta, okta_user(new_login()))
    group = push_group(okta)
    patch_group(
        okta,
        group["id"],
        {
            "op": "add",
            "path": "members",
            "value": [{"value": leaver["id"], "display": leaver["userName"]}],
        },
    )
    assert member_ids(get_group(okta, group["id"])) == {leaver["id"]}

    patch_group(okta, group["id"], rename_op(group["id"], group["displayName"]))
    patch_group(
        okta,
        group["id"],
        {"op": "remove", "path": f'members[value eq "{leaver["id"]}"]'},
        {
            "op": "add",
            "path": "members",
            "value": [{"value": joiner["id"], "display": joiner["userName"]}],
        },
    )

    after = get_group(okta, group["id"])
    assert member_ids(after) == {joiner["id"]}
    assert after["displayName"] == group["displayName"]


def test_group_membership_full_push_replaces_members(okta: ScimSession) -> None:
    users = [create_user(okta, okta_user(new_login())) for _ in range(3)]
    group = push_group(okta)
    patch_group(
        okta, group["id"], {"op": "add", "path": "members", "value": [{"value": users[0]["id"]}]}
    )

    patch_group(
        okta,
        group["id"],
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": u["id"], "display": u["userName"]} for u in users[1:]],
        },
    )

    assert member_ids(get_group(okta, group["id"])) == {users[1]["id"], users[2]["id"]}


def test_delete_pushed_group_returns_204_then_404(okta: ScimSession) -> None:
    group = push_group(okta)

    resp = okta.delete(f"/Groups/{group['id']}")

    assert_status(resp, 204)
    assert not resp.content
    assert_scim_error(okta.get(f"/Groups/{group['id']}"), 404)


def test_okta_spec_test_suite(live_server: LiveServer) -> None:
    """The 12 steps of Okta's SCIM 2.0 SPEC Test (Runscope), in order (idp-flows.md 1.4).

    It runs in an organisation of its own, as an operator would point the test at a tenant.
    """
    spec = live_server.session(live_server.create_org("okta-spec"), accept=None)
    random_username = f"{unique('Runscope')}Xxxxxxxx@atko.com"
    invalid_user_email = "abcdefgh@atko.com"
    # The guide asks for at least one user on the server before the run.
    seed = okta_user(new_login("okta.seed."), "Seed", "User")
    assert_status(spec.post("/Users", json=seed, headers=SPEC_TEST_POST_HEADERS), 201)

    def get(path: str) -> Any:
        return spec.get(path, headers=SPEC_TEST_GET_HEADERS)

    # 1. Required: Test Users endpoint
    step1 = assert_list_response(get("/Users?count=1&startIndex=1"))
    assert step1["Resources"], "Resources must not be empty"
    first = step1["Resources"][0]
    assert first["id"]
    assert first["name"]["familyName"]
    assert first["name"]["givenName"]
    assert first["userName"]
    assert "active" in first
    assert first["emails"][0]["value"]

    # 2. Required: Get Users/{{id}}
    step2 = assert_resource(get(f"/Users/{first['id']}"), 200)
    assert step2["id"] == first["id"]
    assert step2["name"]["familyName"] and step2["name"]["givenName"]
    assert step2["userName"] and "active" in step2 and step2["emails"][0]["value"]

    # 3. Required: Test invalid User by username
    assert_empty_list_response(get(f"/Users?{user_name_filter(invalid_user_email)}"))

    # 4. Required: Test invalid User by ID
    assert_scim_error(get("/Users/010101001010101011001010101011"), 404)

    # 5. Required: Make sure random user doesn't exist
    assert_empty_list_response(get(f"/Users?{user_name_filter(random_username)}"))

    # 6. Required: Create Okta user with realistic values
    new_user = {
        "schemas": [USER_SCHEMA],
        "userName": random_username,
        "name": {"givenName": "Runscope", "familyName": "Tester"},
        "emails": [{"primary": True, "value": random_username, "type": "work"}],
        "displayName": "Runscope Tester",
        "locale": "en-US",
        "externalId": okta_user_id(),
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    created = assert_resource(
        spec.post("/Users", json=new_user, headers=SPEC_TEST_POST_HEADERS), 201
    )
    assert created["active"] is True
    assert created["name"]["familyName"] == "Tester"
    assert created["name"]["givenName"] == "Runscope"
    assert created["userName"] == random_username

    # 7. Required: Verify that user was created
    fetched = assert_resource(get(f"/Users/{created['id']}"), 200)
    assert fetched["userName"] == random_username
    assert fetched["name"]["familyName"] == "Tester"
    assert fetched["name"]["givenName"] == "Runscope"

    # 8. Required: Expect failure when recreating user with same values
    assert_status(spec.post("/Users", json=new_user, headers=SPEC_TEST_POST_HEADERS), 409)

    # 9. Required: Username Case Sensitivity Check (only 200 is asserted)
    caps = get(f"/Users?{user_name_filter(random_username.upper())}")
    assert_status(caps, 200)

    # 10. Optional: Verify Groups endpoint
    groups_resp = get("/Groups")
    assert_status(groups_resp, 200)
    assert groups_resp.elapsed.total_seconds() < 0.6, "GET /Groups took 600 ms or more"
    groups = assert_scim_json(groups_resp)
    if groups.get("totalResults", 0) >= 1:
        assert isinstance(groups.get("Resources"), list)

    # 11. Required: Check status 401
    unauthorized = spec.get(
        "/Users", headers={**SPEC_TEST_GET_HEADERS, "Authorization": "non-token"}
    )
    body = assert_scim_error(unauthorized, 401)
    assert ERROR_SCHEMA in body["schemas"]

    # 12. Required: Check status 404
    assert_scim_error(get("/Users/00919288221112222"), 404)


def test_okta_crud_test_suite(okta: ScimSession) -> None:
    """Okta's SCIM 2.0 CRUD Test (idp-flows.md 1.5).

    Assign, update the first name, deactivate, reactivate and re-assign, unassign.
    """
    login = new_login("okta.crud.")
    sent = okta_user(login, "Crud", "Tester")

    # Add a user in Okta and assign it to the app: existence check, then create.
    assert existence_check(okta, login)["totalResults"] == 0
    created = create_user(okta, sent)
    found = existence_check(okta, login)
    assert found["totalResults"] == 1
    listed = found["Resources"][0]
    assert listed["userName"] == login
    assert listed["emails"][0]["value"] == login
    assert listed["name"]["familyName"] == "Tester"
    assert listed["name"]["givenName"] == "Crud"

    # Update the first name in Okta: GET, then PUT of the whole user.
    current = get_user(okta, created["id"])
    current["name"]["givenName"] = "Updated"
    put_body = {k: v for k, v in current.items() if k != "meta"} | {
        "meta": {"resourceType": "User"}
    }
    assert_resource(okta.put(f"/Users/{created['id']}", json=put_body), 200)
    assert get_user(okta, created["id"])["name"]["givenName"] == "Updated"

    # Deactivate in Okta.
    assert_patch_accepted(okta.patch(f"/Users/{created['id']}", json=deactivate_patch(False)))
    assert get_user(okta, created["id"])["active"] is False

    # Reactivate and re-assign: Okta re-runs the existence check, finds the user, reactivates.
    again = existence_check(okta, login)
    assert again["totalResults"] == 1 and again["Resources"][0]["id"] == created["id"]
    assert_patch_accepted(okta.patch(f"/Users/{created['id']}", json=deactivate_patch(True)))
    assert get_user(okta, created["id"])["active"] is True

    # Unassign: Okta never deletes, it deactivates.
    assert_patch_accepted(okta.patch(f"/Users/{created['id']}", json=deactivate_patch(False)))
    final = get_user(okta, created["id"])
    assert final["active"] is False
    assert final["name"]["givenName"] == "Updated"
