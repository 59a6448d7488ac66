"""PATCH ``remove`` (RFC 7644 3.5.2.2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scimcore.errors import InvalidPath, Mutability, NoTarget
from scimcore.patch import PatchOperation, PatchResult, apply_patch, parse_patch_request
from scimcore.schema.attributes import ResourceType
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA
from scimcore.storage.base import Member

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BABS = "2819c223-7f76-453a-919d-413861904646"
JAMES = "08e1d05d-121c-4561-8b96-473d93df9210"


def patch(rt: ResourceType, resource: dict[str, Any], *operations: dict[str, Any]) -> PatchResult:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return apply_patch(rt, resource, parse_patch_request(body))


@pytest.fixture
def user() -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "id": BABS,
        "userName": "bjensen",
        "title": "Tour Guide",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "region": "CA"}
        ],
        ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "m1"}},
    }


@pytest.fixture
def group() -> dict[str, Any]:
    return {"id": "g1", "displayName": "Tour Guides"}


# -- RFC 7644 3.5.2.2 examples ----------------------------------------------------


def test_rfc_example_remove_all_members_replaces_them_with_none(group: dict[str, Any]) -> None:
    result = patch(GROUP_RESOURCE, group, {"op": "remove", "path": "members"})
    assert result.members.replace == ()
    assert result.resource == group


def test_rfc_example_remove_single_member_by_value_filter(group: dict[str, Any]) -> None:
    result = patch(GROUP_RESOURCE, group, {"op": "remove", "path": f'members[value eq "{BABS}"]'})
    assert result.members.remove == (BABS,)
    assert result.members.replace is None


def test_rfc_example_remove_emails_matching_complex_filter(user: dict[str, Any]) -> None:
    user["emails"].append({"value": "babs@example.com", "type": "work"})
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'},
    )
    assert result.resource["emails"] == [{"value": "babs@jensen.org", "type": "home"}]


def test_rfc_example_replace_members_by_remove_then_add(group: dict[str, Any]) -> None:
    result = patch(
        GROUP_RESOURCE,
        group,
        {"op": "remove", "path": "members"},
        {
            "op": "add",
            "path": "members",
            "value": [
                {
                    "display": "Babs Jensen",
                    "$ref": f"https://example.com/v2/Users/{BABS}",
                    "value": BABS,
                },
                {
                    "display": "James Smith",
                    "$ref": f"https://example.com/v2/Users/{JAMES}",
                    "value": JAMES,
                },
            ],
        },
    )
    assert result.members.replace == (
        Member(BABS, "User", "Babs Jensen"),
        Member(JAMES, "User", "James Smith"),
    )


# -- semantics -----------------------------------------------------------------------------


def test_remove_without_path_is_no_target(user: dict[str, Any]) -> None:
    with pytest.raises(NoTarget) as err:
        patch(USER_RESOURCE, user, {"op": "remove"})
    assert err.value.scim_type == "noTarget"
    with pytest.raises(NoTarget):
        apply_patch(USER_RESOURCE, user, [PatchOperation("remove")])


def test_remove_single_valued_attribute_unassigns_it(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": "title"})
    assert "title" not in result.resource


def test_remove_sub_attribute_keeps_the_others(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": "name.givenName"})
    assert result.resource["name"] == {"familyName": "Jensen"}


def test_remove_last_sub_attribute_unassigns_complex_attribute(user: dict[str, Any]) -> None:
    user["name"] = {"givenName": "Barbara"}
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": "name.givenName"})
    assert "name" not in result.resource


def test_remove_whole_multi_valued_attribute(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": "emails"})
    assert "emails" not in result.resource


def test_remove_value_sub_attribute_of_filtered_element_drops_the_element(
    user: dict[str, Any],
) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": 'emails[type eq "work"].value'})
    assert result.resource["emails"] == [{"value": "babs@jensen.org", "type": "home"}]


def test_remove_other_sub_attribute_of_filtered_element_keeps_the_element(
    user: dict[str, Any],
) -> None:
    result = patch(
        USER_RESOURCE, user, {"op": "remove", "path": 'addresses[type eq "work"].streetAddress'}
    )
    assert result.resource["addresses"] == [{"type": "work", "region": "CA"}]


def test_remove_last_matching_element_unassigns_attribute(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": 'addresses[type eq "work"]'})
    assert "addresses" not in result.resource


@pytest.mark.parametrize(
    "path", ["nickName", 'emails[type eq "other"]', "name.middleName", 'ims[type eq "aim"].value']
)
def test_remove_absent_value_is_a_no_op(user: dict[str, Any], path: str) -> None:
    original = copy.deepcopy(user)
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": path})
    assert result.resource == original
    assert not result.changed


def test_remove_extension_attribute_keeps_other_extension_attributes(
    user: dict[str, Any],
) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": f"{ENTERPRISE}:manager"})
    assert result.resource[ENTERPRISE] == {"employeeNumber": "701984"}


def test_remove_last_extension_attribute_drops_extension_object(user: dict[str, Any]) -> None:
    user[ENTERPRISE] = {"employeeNumber": "701984"}
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": f"{ENTERPRISE}:employeeNumber"})
    assert ENTERPRISE not in result.resource
    assert result.resource["schemas"] == user["schemas"]


def test_remove_schema_urn_path_removes_whole_extension(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "remove", "path": ENTERPRISE})
    assert ENTERPRISE not in result.resource


def test_remove_core_schema_urn_path_is_invalid_path(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidPath):
        patch(USER_RESOURCE, user, {"op": "remove", "path": USER_SCHEMA})


def test_remove_with_value_list_removes_listed_elements(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]},
    )
    assert result.resource["emails"] == [user["emails"][0]]


# -- errors --------------------------------------------------------------------------------


def test_remove_required_user_name_is_mutability_error(user: dict[str, Any]) -> None:
    with pytest.raises(Mutability) as err:
        patch(USER_RESOURCE, user, {"op": "remove", "path": "userName"})
    assert err.value.scim_type == "mutability"


def test_remove_required_group_display_name_is_mutability_error(group: dict[str, Any]) -> None:
    with pytest.raises(Mutability):
        patch(GROUP_RESOURCE, group, {"op": "remove", "path": "displayName"})


@pytest.mark.parametrize("path", ["id", "meta", "groups", "meta.lastModified"])
def test_remove_read_only_attribute_is_mutability_error(user: dict[str, Any], path: str) -> None:
    with pytest.raises(Mutability):
        patch(USER_RESOURCE, user, {"op": "remove", "path": path})


def test_remove_unknown_attribute_is_invalid_path(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidPath):
        patch(USER_RESOURCE, user, {"op": "remove", "path": "shoeSize"})
