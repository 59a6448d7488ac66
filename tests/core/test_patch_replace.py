"""PATCH ``replace`` (RFC 7644 3.5.2.3), atomicity and path parsing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scimcore.errors import InvalidFilter, InvalidPath, InvalidValue, Mutability, NoTarget
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
        "schemas": [USER_SCHEMA],
        "id": BABS,
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "US",
                "primary": True,
            },
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"},
        ],
    }


# -- RFC 7644 3.5.2.3 examples --------------------------------------------------------


def test_rfc_example_replace_all_members_becomes_member_replacement() -> None:
    result = patch(
        GROUP_RESOURCE,
        {"id": "g1", "displayName": "Tour Guides"},
        {
            "op": "replace",
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
    assert result.members.add == () and result.members.remove == ()


def test_rfc_example_replace_work_address_replaces_matching_element(
    user: dict[str, Any],
) -> None:
    new_work = {
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "region": "CA",
        "postalCode": "91608",
        "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        "primary": True,
    }
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "replace", "path": 'addresses[type eq "work"]', "value": new_work},
    )
    assert result.resource["addresses"] == [new_work, user["addresses"][1]]


def test_rfc_example_replace_sub_attribute_of_filtered_element(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "replace",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1010 Broadway Ave",
        },
    )
    assert result.resource["addresses"][0] == {
        **user["addresses"][0],
        "streetAddress": "1010 Broadway Ave",
    }
    assert result.resource["addresses"][1] == user["addresses"][1]


def test_rfc_example_replace_without_path_replaces_emails_and_nickname(
    user: dict[str, Any],
) -> None:
    emails = [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ]
    user["emails"] = [{"value": "old@example.com", "type": "other"}]
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "replace", "value": {"emails": emails, "nickname": "Babs"}},
    )
    assert result.resource["emails"] == emails
    assert result.resource["nickName"] == "Babs"


# -- semantics -----------------------------------------------------------------------------


def test_replace_multi_valued_path_replaces_whole_list(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "replace", "path": "emails", "value": [{"value": "new@example.com"}]},
    )
    assert result.resource["emails"] == [{"value": "new@example.com"}]


def test_replace_multi_valued_with_empty_list_removes_attribute(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": "emails", "value": []})
    assert "emails" not in result.resource


def test_replace_complex_attribute_merges_sub_attributes(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE, user, {"op": "replace", "path": "name", "value": {"givenName": "Babs"}}
    )
    assert result.resource["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_replace_absent_attribute_acts_as_add(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": "title", "value": "Guide"})
    assert result.resource["title"] == "Guide"


def test_replace_no_path_with_dotted_keys_sets_name_given_name(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "replace",
            "value": {
                "displayName": "Babs Jensen",
                "name.givenName": "Babs",
                "name.familyName": "Jensen-Smith",
                f"{ENTERPRISE}:employeeNumber": "701984",
            },
        },
    )
    assert result.resource["name"] == {"givenName": "Babs", "familyName": "Jensen-Smith"}
    assert result.resource["displayName"] == "Babs Jensen"
    assert result.resource[ENTERPRISE] == {"employeeNumber": "701984"}


def test_replace_no_path_with_extension_object_merges_its_attributes(
    user: dict[str, Any],
) -> None:
    user[ENTERPRISE] = {"department": "Tours", "costCenter": "4130"}
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "replace", "value": {ENTERPRISE.lower(): {"Department": "Sales"}}},
    )
    assert result.resource[ENTERPRISE] == {"department": "Sales", "costCenter": "4130"}


def test_replace_whole_element_without_match_is_no_target(user: dict[str, Any]) -> None:
    with pytest.raises(NoTarget) as err:
        patch(
            USER_RESOURCE,
            user,
            {"op": "replace", "path": 'addresses[type eq "other"]', "value": {"locality": "X"}},
        )
    assert err.value.scim_type == "noTarget"


def test_replace_sub_attribute_with_or_filter_and_no_match_is_no_target(
    user: dict[str, Any],
) -> None:
    with pytest.raises(NoTarget):
        patch(
            USER_RESOURCE,
            user,
            {
                "op": "replace",
                "path": 'emails[type eq "other" or type eq "x"].value',
                "value": "a@b.c",
            },
        )


def test_replace_primary_on_one_element_demotes_the_other(user: dict[str, Any]) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True},
    )
    assert [e.get("primary") for e in result.resource["emails"]] == [False, True]


def test_replace_sub_attribute_on_several_matches_with_primary_is_invalid_value(
    user: dict[str, Any],
) -> None:
    with pytest.raises(InvalidValue):
        patch(USER_RESOURCE, user, {"op": "replace", "path": "emails.primary", "value": True})


def test_replace_password_is_allowed_though_write_only(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": "password", "value": "t1meMa$"})
    assert result.resource["password"] == "t1meMa$"


def test_replace_with_same_value_reports_unchanged(user: dict[str, Any]) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": "userName", "value": "bjensen"})
    assert not result.changed


@pytest.mark.parametrize(
    "path",
    [
        "USERNAME",
        "Name.GivenName",
        f"{USER_SCHEMA.upper()}:userName",
        "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
    ],
)
def test_replace_resolves_attribute_names_case_insensitively(
    user: dict[str, Any], path: str
) -> None:
    result = patch(USER_RESOURCE, user, {"op": "replace", "path": path, "value": "x"})
    assert "x" in (result.resource["userName"], result.resource["name"]["givenName"])
    assert not set(result.resource) - {*user, "userName", "name"}


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", None])
def test_replace_required_attribute_with_blank_is_mutability_error(
    user: dict[str, Any], value: Any
) -> None:
    with pytest.raises(Mutability) as err:
        patch(USER_RESOURCE, user, {"op": "replace", "path": "userName", "value": value})
    assert err.value.scim_type == "mutability"


@pytest.mark.parametrize("path", ["meta", "id", "groups", f"{ENTERPRISE}:manager.displayName"])
def test_replace_read_only_path_is_mutability_error(user: dict[str, Any], path: str) -> None:
    with pytest.raises(Mutability):
        patch(USER_RESOURCE, user, {"op": "replace", "path": path, "value": "x"})


@pytest.mark.parametrize(
    "path",
    [
        'emails[type eq "work"',
        'emails[type eq "work"]x',
        'emails[type eq "work"].',
        'name[givenName eq "x"]',
        'userName[value eq "x"]',
        'emails[type eq "work"].nope',
        "emails[]",
        'emails[type eq "work"][value eq "x"]',
        "name..givenName",
    ],
)
def test_replace_malformed_path_is_invalid_path(user: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidPath) as err:
        patch(USER_RESOURCE, user, {"op": "replace", "path": path, "value": "x"})
    assert err.value.scim_type == "invalidPath"


def test_replace_path_with_bad_filter_is_invalid_filter(user: dict[str, Any]) -> None:
    with pytest.raises(InvalidFilter) as err:
        patch(
            USER_RESOURCE, user, {"op": "replace", "path": "emails[type zz 1].value", "value": "x"}
        )
    assert err.value.scim_type == "invalidFilter"


def test_replace_filter_value_may_contain_brackets_and_quotes(user: dict[str, Any]) -> None:
    user["emails"].append({"value": 'odd]"[@example.com', "type": "other"})
    result = patch(
        USER_RESOURCE,
        user,
        {
            "op": "replace",
            "path": 'emails[value eq "odd]\\"[@example.com"].display',
            "value": "Odd",
        },
    )
    assert result.resource["emails"][2]["display"] == "Odd"


# -- all or nothing ---------------------------------------------------------------------------


def test_failing_second_operation_raises_and_leaves_input_unchanged(
    user: dict[str, Any],
) -> None:
    original = copy.deepcopy(user)
    operations = [
        PatchOperation("replace", "displayName", "Changed"),
        PatchOperation("replace", "emails", []),
        PatchOperation("replace", "id", "forged"),
    ]
    with pytest.raises(Mutability):
        apply_patch(USER_RESOURCE, user, operations)
    assert user == original


def test_operations_apply_in_order(user: dict[str, Any]) -> None:
    result = apply_patch(
        USER_RESOURCE,
        user,
        [
            PatchOperation("replace", "title", "First"),
            PatchOperation("remove", "title"),
            PatchOperation("add", "title", "Last"),
        ],
    )
    assert result.resource["title"] == "Last"


def test_replace_with_value_filter_matching_nothing_is_no_target(user: dict[str, Any]) -> None:
    """RFC 7644 3.5.2.3; only the Entra/Okta 'type slot' shape creates an element."""
    with pytest.raises(NoTarget):
        patch(
            USER_RESOURCE,
            user,
            {
                "op": "replace",
                "value": "other",
                "path": 'emails[value eq "nobody@nowhere.invalid"].type',
            },
        )
    with pytest.raises(NoTarget):
        patch(
            USER_RESOURCE,
            user,
            {
                "op": "replace",
                "value": "x@y.z",
                "path": 'emails[type eq "home" and primary eq true].value',
            },
        )


def test_replace_into_missing_type_slot_creates_it_as_entra_expects(
    user: dict[str, Any],
) -> None:
    result = patch(
        USER_RESOURCE,
        user,
        {"op": "Replace", "value": "me@example.com", "path": 'emails[type eq "other"].value'},
    )
    assert {"type": "other", "value": "me@example.com"} in result.resource["emails"]
    assert len(result.resource["emails"]) == len(user["emails"]) + 1
