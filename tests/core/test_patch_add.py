"""PATCH ``add`` (RFC 7644 3.5.2.1)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scimcore.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from scimcore.patch import PatchResult, apply_patch, parse_patch_request
from scimcore.schema.attributes import Attribute, ResourceType, Schema, SchemaExtension
from scimcore.schema.attributes import Mutability as Access
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
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "meta": {"resourceType": "User", "version": 'W/"1"'},
    }


# -- RFC 7644 3.5.2.1 examples ----------------------------------------------------


def test_rfc_example_add_member_to_group_becomes_member_change() -> None:
    group = {"id": "g1", "displayName": "Tour Guides"}
    result = patch(
        GROUP_RESOURCE,
        group,
        {
            "op": "add",
            "path": "members",
            "value": [
                {
                    "display": "Babs Jensen",
                    "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                    "value": "2819c223-7f76-453a-919d-413861904646",
                }
            ],
        },
    )
    assert result.members.add == (
        Member("2819c223-7f76-453a-919d-413861904646", "User", "Babs Jensen"),
    )
    assert result.resource == group
    assert result.changed


def test_rfc_example_add_without_path_appends_email_and_sets_nickname(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}],
                "nickname": "Babs",
            },
        },
    )
    assert result.resource["emails"] == [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ]
    assert result.resource["nickName"] == "Babs"
    assert "nickname" not in result.resource


def test_add_without_path_replaces_existing_single_valued_attribute(user: dict[str, Any]) -> None:
    user["nickName"] = "Barb"
    result = patch(USER_RESOURCE, user, {"op": "add", "value": {"nickName": "Babs"}})
    assert result.resource["nickName"] == "Babs"


# -- paths --------------------------------------------------------------------------


def test_add_path_to_absent_single_valued_attribute_sets_it(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "add", "path": "title", "value": "Tour Guide"})
    assert result.resource["title"] == "Tour Guide"


def test_add_path_to_multi_valued_attribute_appends_single_object(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": "phoneNumbers", "value": {"value": "555-1234", "type": "work"}},
    )
    assert result.resource["phoneNumbers"] == [{"value": "555-1234", "type": "work"}]


def test_add_path_to_multi_valued_attribute_skips_exact_duplicates(user: dict[str, Any]) -> None:
    original = copy.deepcopy(user)
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        },
    )
    assert result.resource == original
    assert not result.changed


def test_add_path_to_complex_attribute_merges_sub_attributes(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE, user, {"op": "add", "path": "name", "value": {"middleName": "Jane"}}
    )
    assert result.resource["name"] == {
        "givenName": "Barbara",
        "familyName": "Jensen",
        "middleName": "Jane",
    }


def test_add_sub_attribute_path_sets_it_inside_complex(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "add", "path": "name.GIVENNAME", "value": "Babs"})
    assert result.resource["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_add_value_filter_path_sets_sub_attribute_on_matching_elements(
    user: dict[str, Any],
) -> None:
    user["emails"].append({"value": "babs@jensen.org", "type": "home"})
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": 'emails[type eq "home"].display', "value": "Home"},
    )
    assert result.resource["emails"][1] == {
        "value": "babs@jensen.org",
        "type": "home",
        "display": "Home",
    }
    assert result.resource["emails"][0] == user["emails"][0]


def test_add_value_filter_path_without_match_creates_element_from_eq_filter(
    user: dict[str, Any],
) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "555-0100"},
    )
    assert result.resource["phoneNumbers"] == [{"type": "mobile", "value": "555-0100"}]


def test_add_value_filter_with_non_eq_filter_and_no_match_is_no_target(
    user: dict[str, Any],
) -> None:
    with pytest.raises(NoTarget):
        patch(
            USER_RESOURCE,
            user,
            {"op": "add", "path": 'emails[value co "nowhere"].display', "value": "x"},
        )


def test_add_to_extension_attribute_creates_extension_object(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": f"{ENTERPRISE.upper()}:employeeNumber", "value": "701984"},
    )
    assert result.resource[ENTERPRISE] == {"employeeNumber": "701984"}


def test_add_with_schema_urn_path_adds_its_attributes(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": ENTERPRISE, "value": {"department": "Tours", "costCenter": "4130"}},
    )
    assert result.resource[ENTERPRISE] == {"department": "Tours", "costCenter": "4130"}


def test_add_with_schema_urn_path_ignores_schemas_inside_value(user: dict[str, Any]) -> None:
    # scim2-tester sends the whole extension model, with its own "schemas" member.
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": ENTERPRISE, "value": {"schemas": [ENTERPRISE], "division": "D"}},
    )
    assert result.resource[ENTERPRISE] == {"division": "D"}


def test_add_null_to_single_valued_attribute_removes_it(user: dict[str, Any]) -> None:
    user["title"] = "Guide"
    result = patch(USER_RESOURCE, user, {"op": "add", "path": "title", "value": None})
    assert "title" not in result.resource


# -- primary ------------------------------------------------------------------------


def test_add_primary_email_demotes_previous_primary(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "primary": True}]},
    )
    assert [e.get("primary") for e in result.resource["emails"]] == [False, True]


def test_add_two_primary_values_is_invalid_value(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue) as err:
        patch(
            USER_RESOURCE,
            user,
            {
                "op": "add",
                "path": "emails",
                "value": [
                    {"value": "a@example.com", "primary": True},
                    {"value": "b@example.com", "primary": True},
                ],
            },
        )
    assert err.value.scim_type == "invalidValue"


# -- mutability, unknown attributes and types ------------------------------------------


@pytest.mark.parametrize("path", ["id", "meta", "meta.created", "groups", "ID"])
def test_add_to_read_only_path_is_mutability_error(user: dict[str, Any], path: str) -> None:
    with pytest.raises(Mutability) as err:
        patch(USER_RESOURCE, user, {"op": "add", "path": path, "value": "x"})
    assert err.value.scim_type == "mutability"


def test_add_without_path_ignores_read_only_attributes_and_schemas(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "add",
            "value": {
                "schemas": ["urn:example:other"],
                "id": "forged",
                "meta": {"version": "forged"},
                "groups": [{"value": "g1"}],
                "title": "Guide",
            },
        },
    )
    assert result.resource == {**user, "title": "Guide"}


def test_add_ignores_read_only_sub_attribute_inside_value(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "add",
            "path": f"{ENTERPRISE}:manager",
            "value": {"value": "m1", "displayName": "Boss"},
        },
    )
    assert result.resource[ENTERPRISE] == {"manager": {"value": "m1"}}


def test_add_unknown_attribute_path_is_invalid_path(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidPath) as err:
        patch(USER_RESOURCE, user, {"op": "add", "path": "shoeSize", "value": "9"})
    assert err.value.scim_type == "invalidPath"
    assert "shoeSize" in err.value.detail


def test_add_unknown_key_in_value_is_ignored_as_in_a_post_body(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "add", "value": {"shoeSize": "9", "title": "Dr"}})
    assert result.resource["title"] == "Dr"
    assert "shoeSize" not in result.resource


def test_add_unknown_sub_attribute_in_value_is_ignored_as_in_a_post_body(
    user: dict[str, Any],
) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": "name", "value": {"nickname": "B", "givenName": "Babs"}},
    )
    assert result.resource["name"]["givenName"] == "Babs"
    assert "nickname" not in result.resource["name"]


def test_add_email_with_a_label_keeps_the_email_without_it(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "add", "path": "emails", "value": [{"value": "b@example.com", "label": "x"}]},
    )
    assert {"value": "b@example.com"} in result.resource["emails"]


def test_add_known_key_with_a_malformed_filter_in_value_is_still_refused(
    user: dict[str, Any],
) -> None:
    with pytest.raises(InvalidPath):
        patch(USER_RESOURCE, user, {"op": "add", "value": {'emails[type eq "work"': "x"}})


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("userName", 5, "string"),
        ("active", "yes", "boolean"),
        ("name", "Babs", "object"),
        ("emails", [{"value": 3}], "string"),
        ("name.givenName", {"x": 1}, "string"),
    ],
)
def test_add_value_of_wrong_type_is_invalid_value(
    user: dict[str, Any], path: str, value: Any, expected: str
) -> None:
    with pytest.raises(InvalidValue) as err:
        patch(USER_RESOURCE, user, {"op": "add", "path": path, "value": value})
    assert err.value.scim_type == "invalidValue"
    assert expected in err.value.detail


def test_add_without_path_needs_an_object_value(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        patch(USER_RESOURCE, user, {"op": "add", "value": "Babs"})


_BADGE = Schema(
    id="urn:example:params:scim:schemas:extension:badge:2.0:User",
    name="Badge",
    description="A test extension with an immutable attribute.",
    attributes=(Attribute("badgeId", mutability=Access.IMMUTABLE),),
)
_BADGE_USER = ResourceType(
    id="User",
    name="User",
    endpoint="/Users",
    description="User with badge",
    schema=USER_RESOURCE.schema,
    extensions=(SchemaExtension(_BADGE),),
)


def test_add_immutable_attribute_when_absent_is_allowed(user: dict[str, Any]) -> None:
    result = patch(_BADGE_USER, user, {"op": "add", "path": f"{_BADGE.id}:badgeId", "value": "b1"})
    assert result.resource[_BADGE.id] == {"badgeId": "b1"}


def test_add_immutable_attribute_with_other_value_is_mutability_error(
    user: dict[str, Any],
) -> None:
    user[_BADGE.id] = {"badgeId": "b1"}
    with pytest.raises(Mutability):
        patch(_BADGE_USER, user, {"op": "add", "path": f"{_BADGE.id}:badgeId", "value": "b2"})
    same = patch(_BADGE_USER, user, {"op": "add", "path": f"{_BADGE.id}:badgeId", "value": "b1"})
    assert not same.changed


def test_add_never_mutates_the_input(user: dict[str, Any]) -> None:
    original = copy.deepcopy(user)
    result = patch(USER_RESOURCE, user, {"op": "add", "path": "name.middleName", "value": "J"})
    assert user == original
    assert result.resource is not user
    assert result.changed
