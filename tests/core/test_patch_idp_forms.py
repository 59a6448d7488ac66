"""Every PATCH shape Okta and Entra ID send (docs/idp-profiles.md), and the PatchOp message.

Entra ID forms come in two columns: the default (non-compliant) one and the
``aadOptscim062020`` one; both must work.
"""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.errors import InvalidPath, InvalidSyntax, InvalidValue
from scimcore.patch import (
    MemberChanges,
    PatchOperation,
    PatchResult,
    apply_patch,
    parse_patch_request,
)
from scimcore.schema.attributes import ResourceType
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA
from scimcore.storage.base import Member

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def patch(rt: ResourceType, resource: dict[str, Any], *operations: dict[str, Any]) -> PatchResult:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return apply_patch(rt, resource, parse_patch_request(body))


@pytest.fixture
def user() -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "id": "6a1d3f0e",
        "externalId": "00u1ab2cd3",
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"value": "test.user@okta.local", "type": "home", "primary": True}],
        "active": True,
    }


@pytest.fixture
def group() -> dict[str, Any]:
    return {"id": "abf4dd94", "displayName": "Test SCIMv2", "externalId": "8aa1a0c0"}


# -- Okta (idp-flows 1.2, 1.3) -------------------------------------------------------


def test_okta_deactivate_user_with_no_path_replace(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "value": {"active": False}})
    assert result.resource["active"] is False


def test_okta_reactivate_user_with_no_path_replace(user: dict[str, Any]) -> None:
    user["active"] = False
    result = patch(USER_RESOURCE, user, {"op": "replace", "value": {"active": True}})
    assert result.resource["active"] is True


def test_okta_password_sync_with_no_path_replace(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "value": {"password": "Pa55w0rd!"}})
    assert result.resource["password"] == "Pa55w0rd!"


def test_okta_group_rename_ignores_id_inside_value(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "replace", "value": {"id": group["id"], "displayName": "Renamed"}},
    )
    assert result.resource == {**group, "displayName": "Renamed"}
    assert not result.members


def test_okta_membership_update_removes_and_adds_in_one_patch(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "replace", "value": {"id": group["id"], "displayName": group["displayName"]}},
        {"op": "remove", "path": 'members[value eq "89bb1940"]'},
        {"op": "add", "path": "members", "value": [{"value": "23a35c27", "display": "dade"}]},
    )
    assert result.members == MemberChanges(
        add=(Member("23a35c27", "User", "dade"),), remove=("89bb1940",)
    )
    assert result.resource == group


def test_okta_full_membership_push_replaces_members(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {
            "op": "replace",
            "path": "members",
            "value": [{"value": "u1", "display": "a"}, {"value": "u2", "display": "b"}],
        },
    )
    assert result.members.replace == (Member("u1", "User", "a"), Member("u2", "User", "b"))


# -- Entra ID: users (idp-flows 2.2, 2.3, 2.5) ----------------------------------------


@pytest.mark.parametrize("value", ["False", "false", False])
def test_entra_disable_user_accepts_string_and_boolean(user: dict[str, Any], value: Any) -> None:
    result = patch(USER_RESOURCE, user, {"op": "Replace", "path": "active", "value": value})
    assert result.resource["active"] is False


def test_entra_enable_user_with_string_true(user: dict[str, Any]) -> None:
    user["active"] = False
    result = patch(USER_RESOURCE, user, {"op": "Replace", "path": "active", "value": "True"})
    assert result.resource["active"] is True


@pytest.mark.parametrize("op", ["Add", "add"])
def test_entra_add_single_value_string(user: dict[str, Any], op: str) -> None:
    result = patch(USER_RESOURCE, user, {"op": op, "path": "nickName", "value": "Babs"})
    assert result.resource["nickName"] == "Babs"


def test_entra_default_replace_one_operation_per_path(user: dict[str, Any]) -> None:
    user["emails"].append({"value": "old@contoso.com", "type": "work"})
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@contoso.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
        {"op": "Replace", "path": "name.familyName", "value": "Jensen"},
        {"op": "Replace", "path": "externalId", "value": "e7f1"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "42"},
        {"op": "Replace", "path": "userName", "value": "bjensen@contoso.com"},
    )
    r = result.resource
    assert r["emails"][1] == {"value": "new@contoso.com", "type": "work"}
    assert r["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert r["externalId"] == "e7f1"
    assert r[ENTERPRISE] == {"employeeNumber": "42"}
    assert r["userName"] == "bjensen@contoso.com"


def test_entra_flag_replace_no_path_with_dotted_keys(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "replace",
            "value": {
                "displayName": "Barbara Jensen",
                "name.givenName": "Barbara",
                "name.familyName": "Jensen",
                f"{ENTERPRISE}:employeeNumber": "42",
            },
        },
    )
    r = result.resource
    assert r["displayName"] == "Barbara Jensen"
    assert r["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert r[ENTERPRISE] == {"employeeNumber": "42"}


@pytest.mark.parametrize("op", ["Replace", "Add"])
def test_entra_work_email_is_created_when_user_has_none(user: dict[str, Any], op: str) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": op, "path": 'emails[type eq "work"].value', "value": "babs@contoso.com"},
    )
    assert result.resource["emails"] == [
        user["emails"][0],
        {"type": "work", "value": "babs@contoso.com"},
    ]


@pytest.mark.parametrize(
    ("path", "attribute", "created"),
    [
        ('phoneNumbers[type eq "work"].value', "phoneNumbers", {"type": "work", "value": "X"}),
        (
            'addresses[type eq "work"].streetAddress',
            "addresses",
            {"type": "work", "streetAddress": "X"},
        ),
    ],
)
def test_entra_validator_replace_creates_missing_work_values(
    user: dict[str, Any], path: str, attribute: str, created: dict[str, Any]
) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": path, "value": "X"})
    assert result.resource[attribute] == [created]


def test_entra_validator_update_user_name_without_path(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "value": {"userName": "new@contoso.com"}})
    assert result.resource["userName"] == "new@contoso.com"


def test_entra_read_only_meta_echoed_in_value_is_ignored(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "Replace", "value": {"meta": {"resourceType": "User"}, "title": "Guide"}},
    )
    assert result.resource == {**user, "title": "Guide"}


@pytest.mark.parametrize(
    "op",
    [
        {"op": "Replace", "path": "title", "value": None},
        {"op": "Replace", "path": "title", "value": ""},
        {"op": "Add", "path": "title", "value": None},
        {"op": "Replace", "value": {"title": ""}},
        {"op": "Remove", "path": "title"},
    ],
)
def test_entra_null_or_empty_value_unassigns_attribute(
    user: dict[str, Any], op: dict[str, Any]
) -> None:
    user["title"] = "Guide"
    result = patch(USER_RESOURCE, user, op)
    assert "title" not in result.resource


def test_entra_null_work_email_for_user_without_one_is_a_no_op(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE, user, {"op": "Replace", "path": 'emails[type eq "work"].value', "value": ""}
    )
    assert not result.changed


# -- Entra ID: manager (idp-flows 2.2, 2.5) ---------------------------------------------


MANAGER = f"{ENTERPRISE}:manager"


@pytest.mark.parametrize(
    "value",
    ["26118915-6090-4610-87e4-49d8ca9f808d", {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}],
)
@pytest.mark.parametrize("op", ["Add", "Replace"])
def test_entra_set_manager_as_bare_string_or_object(
    user: dict[str, Any], op: str, value: Any
) -> None:
    result = patch(USER_RESOURCE, user, {"op": op, "path": MANAGER, "value": value})
    assert result.resource[ENTERPRISE] == {
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
    }


def test_entra_change_manager_as_bare_string_replaces_whole_manager(
    user: dict[str, Any],
) -> None:
    user[ENTERPRISE] = {"manager": {"value": "old", "$ref": "https://x/Users/old"}}
    result = patch(USER_RESOURCE, user, {"op": "Replace", "path": MANAGER, "value": "new"})
    assert result.resource[ENTERPRISE] == {"manager": {"value": "new"}}


@pytest.mark.parametrize(
    "op",
    [
        {"op": "Remove", "path": MANAGER},
        {"op": "Replace", "path": MANAGER, "value": {"value": ""}},
        {"op": "Replace", "path": MANAGER, "value": ""},
        {"op": "Replace", "path": MANAGER, "value": None},
        {"op": "Replace", "path": f"{MANAGER}.value", "value": ""},
    ],
)
def test_entra_remove_manager_forms(user: dict[str, Any], op: dict[str, Any]) -> None:
    user[ENTERPRISE] = {"manager": {"value": "m1"}, "department": "Tours"}
    result = patch(USER_RESOURCE, user, op)
    assert result.resource[ENTERPRISE] == {"department": "Tours"}


# -- Entra ID: groups (idp-flows 2.2, 2.3, 2.5) -----------------------------------------


def test_entra_replace_group_display_name(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE, group, {"op": "Replace", "path": "displayName", "value": "Renamed"}
    )
    assert result.resource["displayName"] == "Renamed"


def test_entra_validator_replace_group_external_id_without_path(group: dict[str, Any]) -> None:
    result = patch(GROUP_RESOURCE, group, {"op": "replace", "value": {"externalId": "new-ext"}})
    assert result.resource["externalId"] == "new-ext"


def test_entra_add_member_with_null_ref(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u1091"}]},
    )
    assert result.members == MemberChanges(add=(Member("u1091"),))


def test_entra_default_remove_member_with_value_on_remove(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "u1091"}]},
    )
    assert result.members == MemberChanges(remove=("u1091",))


def test_entra_flag_remove_member_with_value_filter(group: dict[str, Any]) -> None:
    result = patch(GROUP_RESOURCE, group, {"op": "remove", "path": 'members[value eq "u1091"]'})
    assert result.members == MemberChanges(remove=("u1091",))


def test_entra_several_membership_changes_in_one_patch(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "Remove", "path": "members", "value": [{"value": "u3"}]},
        {"op": "Add", "path": "members", "value": [{"value": "u3"}]},
    )
    assert result.members == MemberChanges(add=(Member("u1"), Member("u2"), Member("u3")))


# -- the PatchOp message (RFC 7644 3.5.2) -----------------------------------------------


def test_message_member_names_and_ops_are_case_insensitive() -> None:
    operations = parse_patch_request(
        {
            "SCHEMAS": [PATCH_OP.upper()],
            "operations": [{"OP": "REPLACE", "Path": "active", "Value": False}],
        }
    )
    assert operations == [PatchOperation("replace", "active", False)]


def test_message_without_schemas_is_accepted_as_okta_sends_it() -> None:
    body = {"Operations": [{"op": "replace", "value": {"displayName": "Renamed"}}]}
    assert parse_patch_request(body) == [
        PatchOperation("replace", None, {"displayName": "Renamed"})
    ]


def test_message_blank_path_means_no_path() -> None:
    body = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": " ", "value": {}}]}
    assert parse_patch_request(body) == [PatchOperation("add", None, {})]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"schemas": "not-a-list", "Operations": [{"op": "add", "value": {"active": True}}]},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": []},
        {"schemas": [PATCH_OP]},
        {"schemas": [PATCH_OP], "Operations": []},
        {"schemas": [PATCH_OP], "Operations": {"op": "add"}},
        {"schemas": [PATCH_OP], "Operations": ["add"]},
        {"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "a"}]},
        {"schemas": [PATCH_OP], "Operations": [{"path": "a", "value": 1}]},
    ],
)
def test_message_with_bad_structure_is_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax) as err:
        parse_patch_request(body)
    assert err.value.scim_type == "invalidSyntax"
    assert err.value.detail


@pytest.mark.parametrize("op", ["add", "Replace"])
def test_message_add_or_replace_without_value_is_invalid_value(op: str) -> None:
    with pytest.raises(InvalidValue) as err:
        parse_patch_request({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "title"}]})
    assert err.value.scim_type == "invalidValue"


def test_message_path_must_be_a_string() -> None:
    with pytest.raises(InvalidPath):
        parse_patch_request(
            {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": ["title"]}]}
        )


def test_message_remove_may_carry_a_value() -> None:
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}],
    }
    assert parse_patch_request(body) == [PatchOperation("remove", "members", [{"value": "u1"}])]
