"""Microsoft Entra ID provisioning traffic replayed against the live server (idp-flows.md 2).

Every request carries ``Content-Type: application/scim+json; charset=utf-8`` as Entra's do,
PATCH ``op`` values are capitalised (``Add``/``Replace``/``Remove``), and both PATCH
dialects are sent: the legacy default (``"False"`` strings, one ``Replace`` per path,
``value`` on a member ``Remove``) and the ``aadOptscim062020`` one (no-path ``replace``
with dotted keys, ``members[value eq ...]``). Every response must be
``application/scim+json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import LiveServer
from .support import (
    ENTERPRISE_SCHEMA,
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
    member_ids,
    raw_request,
    unique,
)

ENTRA_CONTENT_TYPE = "application/scim+json; charset=utf-8"
MANAGER_PATH = f"{ENTERPRISE_SCHEMA}:manager"
EMPLOYEE_NUMBER_PATH = f"{ENTERPRISE_SCHEMA}:employeeNumber"


@pytest.fixture
def entra(live_server: LiveServer) -> Iterator[ScimSession]:
    """A session sending Entra's request Content-Type on every request, and no SCIM Accept."""
    with live_server.session(accept=None, content_type=ENTRA_CONTENT_TYPE) as session:
        yield session


def entra_user(alias: str | None = None) -> dict[str, Any]:
    """The create body of Entra's SCIM tutorial: both schemas, a GUID externalId, ``meta``."""
    alias = alias or unique("entra.user.")
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": str(uuid.uuid4()),
        "userName": f"{alias}@contoso.com",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": f"{alias}@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Entra Tester", "familyName": "Tester", "givenName": "Entra"},
        "roles": [],
        ENTERPRISE_SCHEMA: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def create_user(entra: ScimSession, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return assert_resource(entra.post("/Users", json=body or entra_user()), 201)


def get_user(entra: ScimSession, user_id: str) -> dict[str, Any]:
    return assert_resource(entra.get(f"/Users/{user_id}"), 200)


def patch(
    entra: ScimSession, path: str, *operations: dict[str, Any], schema: str = USER_SCHEMA
) -> None:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}
    assert_patch_accepted(entra.patch(path, json=body), schema=schema)


def work_email(user: dict[str, Any]) -> str:
    values = [e["value"] for e in user.get("emails", []) if e.get("type") == "work"]
    assert len(values) == 1, user.get("emails")
    return values[0]


def find_users(entra: ScimSession, attribute: str, value: str) -> dict[str, Any]:
    return assert_list_response(entra.get("/Users", params={"filter": f'{attribute} eq "{value}"'}))


def test_test_connection_with_random_guid_returns_empty_list_response(entra: ScimSession) -> None:
    guid = str(uuid.uuid4())

    for attribute in ("userName", "externalId"):
        resp = entra.get(f"/Users?filter={attribute}+eq+%22{guid}%22")
        assert_empty_list_response(resp)


def test_create_user_with_enterprise_extension_ignores_meta(
    entra: ScimSession, live_server: LiveServer
) -> None:
    sent = entra_user()

    resp = entra.post("/Users", json=sent)

    user = assert_resource(resp, 201)
    assert resp.headers.get("Location") == f"{live_server.tenant_url}/Users/{user['id']}"
    assert user["userName"] == sent["userName"]
    assert user["externalId"] == sent["externalId"]
    assert user["active"] is True
    assert user["name"]["familyName"] == "Tester"
    assert user["name"]["givenName"] == "Entra"
    assert work_email(user) == sent["emails"][0]["value"]
    assert ENTERPRISE_SCHEMA in user["schemas"]
    assert user[ENTERPRISE_SCHEMA]["employeeNumber"] == "701984"
    assert user[ENTERPRISE_SCHEMA]["department"] == "Tour Operations"
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"].get("created"), describe(resp)
    assert user["meta"].get("lastModified"), describe(resp)


def test_filter_user_by_user_name_in_every_encoding_entra_uses(
    entra: ScimSession, live_server: LiveServer
) -> None:
    user = create_user(entra)
    user_name = user["userName"]
    encoded_at = user_name.replace("@", "%40")
    user_name_eq = f'userName eq "{user_name}"'

    responses = [
        entra.get("/Users", params={"filter": user_name_eq}),
        entra.get(f"/Users?filter=userName+eq+%22{encoded_at}%22"),
        entra.get(f"/Users?filter={quote(user_name_eq, safe='')}"),
        raw_request(
            entra.url("/Users"),
            f'filter=userName+eq+"{encoded_at}"',
            {
                "Authorization": f"Bearer {live_server.token}",
                "Content-Type": ENTRA_CONTENT_TYPE,
                "Host": live_server.base_url.removeprefix("http://"),
            },
        ),
    ]

    for resp in responses:
        body = assert_list_response(resp)
        assert body["totalResults"] == 1, describe(resp)
        assert body["Resources"][0]["id"] == user["id"]


def test_filter_user_by_external_id(entra: ScimSession) -> None:
    user = create_user(entra)

    for resp in (
        entra.get(f"/Users?filter=externalId+eq+%22{user['externalId']}%22"),
        entra.get("/Users", params={"filter": f'externalId eq "{user["externalId"]}"'}),
    ):
        body = assert_list_response(resp)
        assert body["totalResults"] == 1, describe(resp)
        assert body["Resources"][0]["id"] == user["id"]


def test_filter_user_name_with_different_case_matches(entra: ScimSession) -> None:
    user = create_user(entra)

    body = find_users(entra, "userName", user["userName"].upper())

    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == user["id"]


def test_filter_value_with_space_encoded_as_plus(entra: ScimSession) -> None:
    alias = unique("entra space ")
    user = create_user(entra, entra_user() | {"externalId": f"{alias} ext"})

    resp = entra.get(f"/Users?filter=externalId+eq+%22{alias.replace(' ', '+')}+ext%22")

    body = assert_list_response(resp)
    assert body["totalResults"] == 1, describe(resp)
    assert body["Resources"][0]["id"] == user["id"]


def test_default_patch_replaces_each_path_including_value_filter_and_extension(
    entra: ScimSession,
) -> None:
    user = create_user(entra)
    new_email = unique("entra.mail.") + "@contoso.com"
    new_external_id = str(uuid.uuid4())

    patch(
        entra,
        f"/Users/{user['id']}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": new_email},
        {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
        {"op": "Replace", "path": "name.familyName", "value": "Jensen"},
        {"op": "Replace", "path": "externalId", "value": new_external_id},
        {"op": "Replace", "path": EMPLOYEE_NUMBER_PATH, "value": "000123"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
    )

    after = get_user(entra, user["id"])
    assert work_email(after) == new_email
    assert after["name"]["givenName"] == "Barbara"
    assert after["name"]["familyName"] == "Jensen"
    assert after["externalId"] == new_external_id
    assert after[ENTERPRISE_SCHEMA]["employeeNumber"] == "000123"
    assert after[ENTERPRISE_SCHEMA]["department"] == "Tour Operations"
    assert after["nickName"] == "Babs"
    assert after["userName"] == user["userName"]
    assert find_users(entra, "externalId", new_external_id)["Resources"][0]["id"] == user["id"]


def test_default_patch_replace_user_name_single_value(entra: ScimSession) -> None:
    user = create_user(entra)
    new_name = unique("entra.renamed.") + "@contoso.com"

    patch(entra, f"/Users/{user['id']}", {"op": "Replace", "path": "userName", "value": new_name})

    assert get_user(entra, user["id"])["userName"] == new_name
    assert find_users(entra, "userName", new_name)["Resources"][0]["id"] == user["id"]
    assert find_users(entra, "userName", user["userName"])["totalResults"] == 0


def test_default_patch_disables_with_string_false_and_restores_with_string_true(
    entra: ScimSession,
) -> None:
    user = create_user(entra)

    patch(entra, f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"})

    disabled = get_user(entra, user["id"])
    assert disabled["active"] is False
    by_name = find_users(entra, "userName", user["userName"])
    assert by_name["totalResults"] == 1 and by_name["Resources"][0]["active"] is False
    by_external_id = find_users(entra, "externalId", user["externalId"])
    assert by_external_id["totalResults"] == 1 and by_external_id["Resources"][0]["active"] is False

    patch(entra, f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "True"})

    assert get_user(entra, user["id"])["active"] is True


def test_flag_patch_no_path_replace_with_dotted_keys(entra: ScimSession) -> None:
    user = create_user(entra)

    patch(
        entra,
        f"/Users/{user['id']}",
        {
            "op": "replace",
            "value": {
                "displayName": "Barbara Jensen",
                "name.givenName": "Barbara",
                "name.familyName": "Jensen",
                EMPLOYEE_NUMBER_PATH: "000456",
            },
        },
    )

    after = get_user(entra, user["id"])
    assert after["displayName"] == "Barbara Jensen"
    assert after["name"]["givenName"] == "Barbara"
    assert after["name"]["familyName"] == "Jensen"
    assert after[ENTERPRISE_SCHEMA]["employeeNumber"] == "000456"
    assert after[ENTERPRISE_SCHEMA]["department"] == "Tour Operations"
    assert after["userName"] == user["userName"]


def test_flag_patch_disables_with_boolean_and_adds_single_value(entra: ScimSession) -> None:
    user = create_user(entra)

    patch(
        entra,
        f"/Users/{user['id']}",
        {"op": "replace", "path": "active", "value": False},
        {"op": "add", "path": "nickName", "value": "Babs"},
    )

    after = get_user(entra, user["id"])
    assert after["active"] is False
    assert after["nickName"] == "Babs"


def test_manager_added_as_bare_string_then_changed_and_removed(entra: ScimSession) -> None:
    report = create_user(entra)
    manager = create_user(entra)
    other_manager = create_user(entra)

    patch(
        entra, f"/Users/{report['id']}", {"op": "Add", "path": MANAGER_PATH, "value": manager["id"]}
    )
    assert get_user(entra, report["id"])[ENTERPRISE_SCHEMA]["manager"]["value"] == manager["id"]

    patch(
        entra,
        f"/Users/{report['id']}",
        {"op": "Replace", "path": MANAGER_PATH, "value": {"value": other_manager["id"]}},
    )
    assert (
        get_user(entra, report["id"])[ENTERPRISE_SCHEMA]["manager"]["value"] == other_manager["id"]
    )

    patch(entra, f"/Users/{report['id']}", {"op": "Remove", "path": MANAGER_PATH})
    after = get_user(entra, report["id"])
    assert not after.get(ENTERPRISE_SCHEMA, {}).get("manager")
    assert after[ENTERPRISE_SCHEMA]["employeeNumber"] == "701984"


def test_delete_user_returns_204_then_404_and_second_delete_404(entra: ScimSession) -> None:
    user = create_user(entra)

    resp = entra.delete(f"/Users/{user['id']}")

    assert_status(resp, 204)
    assert not resp.content
    assert_scim_error(entra.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(entra.delete(f"/Users/{user['id']}"), 404)
    assert find_users(entra, "userName", user["userName"])["totalResults"] == 0


def test_delete_unknown_user_returns_404(entra: ScimSession) -> None:
    assert_scim_error(entra.delete(f"/Users/{uuid.uuid4()}"), 404)


def test_user_pagination_over_eleven_users_echoes_start_index(entra: ScimSession) -> None:
    created = {create_user(entra)["id"] for _ in range(11)}
    total = assert_list_response(entra.get("/Users?startIndex=1&count=1"))["totalResults"]
    assert total >= 11

    seen: list[str] = []
    for start in range(1, total + 1, 5):
        body = assert_list_response(entra.get(f"/Users?startIndex={start}&count=5"))
        assert body["startIndex"] == start
        assert body["totalResults"] == total
        assert body["itemsPerPage"] == min(5, total - start + 1)
        seen.extend(r["id"] for r in body["Resources"])

    assert len(seen) == len(set(seen)) == total
    assert created <= set(seen)
    past_end = assert_list_response(entra.get(f"/Users?startIndex={total + 1}&count=5"))
    assert past_end["itemsPerPage"] == 0 and past_end["startIndex"] == total + 1


def entra_group(display_name: str | None = None) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "externalId": str(uuid.uuid4()),
        "displayName": display_name or unique("Entra Group "),
        "meta": {"resourceType": "Group"},
    }


def create_group(entra: ScimSession, body: dict[str, Any] | None = None) -> dict[str, Any]:
    sent = body or entra_group()
    group = assert_resource(entra.post("/Groups", json=sent), 201, schema=GROUP_SCHEMA)
    assert group["displayName"] == sent["displayName"]
    assert group["externalId"] == sent["externalId"]
    assert not group.get("members")
    return group


def get_group(entra: ScimSession, group_id: str) -> dict[str, Any]:
    return assert_resource(entra.get(f"/Groups/{group_id}"), 200, schema=GROUP_SCHEMA)


def add_members(entra: ScimSession, group_id: str, *user_ids: str) -> None:
    patch(
        entra,
        f"/Groups/{group_id}",
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": uid} for uid in user_ids],
        },
        schema=GROUP_SCHEMA,
    )


def test_group_get_by_id_excluding_members(entra: ScimSession) -> None:
    user = create_user(entra)
    group = create_group(entra)
    add_members(entra, group["id"], user["id"])

    resp = entra.get(f"/Groups/{group['id']}?excludedAttributes=members")

    body = assert_resource(resp, 200, schema=GROUP_SCHEMA)
    assert "members" not in body, describe(resp)
    assert body["displayName"] == group["displayName"]
    assert member_ids(get_group(entra, group["id"])) == {user["id"]}


def test_group_filter_by_display_name_excluding_members(entra: ScimSession) -> None:
    user = create_user(entra)
    group = create_group(entra)
    add_members(entra, group["id"], user["id"])

    resp = entra.get(
        "/Groups",
        params={
            "excludedAttributes": "members",
            "filter": f'displayName eq "{group["displayName"]}"',
        },
    )

    body = assert_list_response(resp)
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == group["id"]
    assert "members" not in body["Resources"][0], describe(resp)


def test_group_filter_by_display_name_with_different_case_matches(entra: ScimSession) -> None:
    group = create_group(entra)

    resp = entra.get(
        "/Groups", params={"filter": f'displayName eq "{group["displayName"].upper()}"'}
    )

    body = assert_list_response(resp)
    assert body["totalResults"] == 1, describe(resp)
    assert body["Resources"][0]["id"] == group["id"]


def test_group_filter_for_missing_display_name_returns_empty_list(entra: ScimSession) -> None:
    resp = entra.get("/Groups", params={"filter": f'displayName eq "{uuid.uuid4()}"'})

    assert_empty_list_response(resp)


def test_duplicate_group_display_name_returns_409(entra: ScimSession) -> None:
    group = create_group(entra)

    resp = entra.post("/Groups", json=entra_group(group["displayName"]))

    assert_scim_error(resp, 409, "uniqueness")


def test_group_display_name_replace_returns_204_or_200(entra: ScimSession) -> None:
    group = create_group(entra)
    new_name = unique("Entra Renamed ")

    resp = entra.patch(
        f"/Groups/{group['id']}",
        json={
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "Replace", "path": "displayName", "value": new_name}],
        },
    )

    assert_patch_accepted(resp, schema=GROUP_SCHEMA)
    assert get_group(entra, group["id"])["displayName"] == new_name


def test_group_no_path_replace_external_id(entra: ScimSession) -> None:
    group = create_group(entra)
    new_external_id = str(uuid.uuid4())

    patch(
        entra,
        f"/Groups/{group['id']}",
        {"op": "replace", "value": {"externalId": new_external_id}},
        schema=GROUP_SCHEMA,
    )

    after = get_group(entra, group["id"])
    assert after["externalId"] == new_external_id
    assert after["displayName"] == group["displayName"]


def test_group_add_several_members_in_one_patch_with_null_ref(entra: ScimSession) -> None:
    users = [create_user(entra) for _ in range(2)]
    group = create_group(entra)

    add_members(entra, group["id"], *(u["id"] for u in users))

    assert member_ids(get_group(entra, group["id"])) == {u["id"] for u in users}


def test_group_remove_member_with_value_list(entra: ScimSession) -> None:
    stays, leaves = create_user(entra), create_user(entra)
    group = create_group(entra)
    add_members(entra, group["id"], stays["id"], leaves["id"])

    patch(
        entra,
        f"/Groups/{group['id']}",
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": leaves["id"]}]},
        schema=GROUP_SCHEMA,
    )

    assert member_ids(get_group(entra, group["id"])) == {stays["id"]}


def test_group_remove_member_with_value_filter_path(entra: ScimSession) -> None:
    stays, leaves = create_user(entra), create_user(entra)
    group = create_group(entra)
    add_members(entra, group["id"], stays["id"], leaves["id"])

    patch(
        entra,
        f"/Groups/{group['id']}",
        {"op": "remove", "path": f'members[value eq "{leaves["id"]}"]'},
        schema=GROUP_SCHEMA,
    )

    assert member_ids(get_group(entra, group["id"])) == {stays["id"]}


def test_group_delete_returns_204_then_404(entra: ScimSession) -> None:
    group = create_group(entra)

    resp = entra.delete(f"/Groups/{group['id']}")

    assert_status(resp, 204)
    assert_scim_error(entra.get(f"/Groups/{group['id']}"), 404)
    assert_scim_error(entra.delete(f"/Groups/{group['id']}"), 404)
    gone = entra.get("/Groups", params={"filter": f'displayName eq "{group["displayName"]}"'})
    assert assert_list_response(gone)["totalResults"] == 0


def test_schemas_endpoint_lists_user_group_and_enterprise_schemas(entra: ScimSession) -> None:
    body = assert_list_response(entra.get("/Schemas"))

    ids = {schema["id"] for schema in body["Resources"]}
    assert {USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA} <= ids


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Users"),
        ("GET", "/Groups"),
        ("GET", "/ServiceProviderConfig"),
        ("GET", "/ResourceTypes"),
        ("GET", "/Schemas"),
        ("GET", "/Users/does-not-exist"),
        ("POST", "/Users"),
    ],
)
def test_every_response_is_scim_json(entra: ScimSession, method: str, path: str) -> None:
    json_body = {"schemas": [USER_SCHEMA]} if method == "POST" else None

    resp = entra.request(method, path, json=json_body)

    assert resp.status_code < 500, describe(resp)
    assert_scim_json(resp)
