"""Validation of POST/PUT bodies against the schema registry (RFC 7643 2, 3, 4)."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.errors import InvalidSyntax, InvalidValue, Mutability
from scimcore.schema.core import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    GROUP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from scimcore.schema.serializers import check_immutable, load_resource


def user(**attrs: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": "bjensen", **attrs}


def test_attribute_names_are_case_insensitive_and_stored_canonically() -> None:
    loaded = load_resource(
        USER_RESOURCE,
        {"SCHEMAS": None, **user(), "NAME": {"GIVENNAME": "B"}} | {"schemas": [USER_SCHEMA]},
    )
    assert loaded["name"] == {"givenName": "B"}


def test_read_only_attributes_sent_by_clients_are_ignored() -> None:
    loaded = load_resource(
        USER_RESOURCE,
        user(id="client-id", meta={"resourceType": "User"}, groups=[{"value": "g"}]),
    )
    assert "id" not in loaded and "meta" not in loaded and "groups" not in loaded


def test_unknown_attributes_are_ignored() -> None:
    assert "favouriteColour" not in load_resource(USER_RESOURCE, user(favouriteColour="red"))


def test_enterprise_extension_is_stored_under_its_urn() -> None:
    body = user(
        **{
            ENTERPRISE_USER_SCHEMA: {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090"},
            }
        }
    )
    body["schemas"] = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
    loaded = load_resource(USER_RESOURCE, body)
    assert loaded[ENTERPRISE_USER_SCHEMA]["employeeNumber"] == "701984"
    assert loaded["schemas"] == [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]


@pytest.mark.parametrize(
    "body",
    [
        {"userName": "x"},
        {"schemas": USER_SCHEMA, "userName": "x"},
        {"schemas": [GROUP_SCHEMA], "userName": "x"},
        {"schemas": [USER_SCHEMA, "urn:example:unknown"], "userName": "x"},
    ],
)
def test_missing_or_wrong_schemas_is_invalid_syntax(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidSyntax):
        load_resource(USER_RESOURCE, body)


def test_body_that_is_not_an_object_is_invalid_syntax() -> None:
    with pytest.raises(InvalidSyntax):
        load_resource(USER_RESOURCE, ["not", "an", "object"])


@pytest.mark.parametrize(
    ("attrs", "where"),
    [
        ({"userName": 42}, "userName"),
        ({"active": "yes"}, "active"),
        ({"emails": [{"value": 1}]}, "emails[0].value"),
        ({"name": "Barbara"}, "name"),
        ({"emails": "a@example.com"}, "emails"),
    ],
)
def test_wrong_types_are_invalid_value_naming_the_attribute(
    attrs: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidValue) as err:
        load_resource(USER_RESOURCE, user(**attrs))
    assert where in err.value.detail


def test_required_user_name_is_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="userName"):
        load_resource(USER_RESOURCE, {"schemas": [USER_SCHEMA], "displayName": "x"})


def test_required_group_display_name_is_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="displayName"):
        load_resource(GROUP_RESOURCE, {"schemas": [GROUP_SCHEMA]})


def test_boolean_strings_from_entra_are_accepted() -> None:
    assert load_resource(USER_RESOURCE, user(active="False"))["active"] is False
    assert load_resource(USER_RESOURCE, user(active="TRUE"))["active"] is True


def test_canonical_values_match_case_insensitively_and_are_normalised() -> None:
    loaded = load_resource(USER_RESOURCE, user(emails=[{"value": "a@x", "type": "Work"}]))
    assert loaded["emails"][0]["type"] == "work"


def test_non_canonical_value_is_invalid_value_listing_allowed_values() -> None:
    with pytest.raises(InvalidValue, match="work, home, other"):
        load_resource(USER_RESOURCE, user(emails=[{"value": "a@x", "type": "office"}]))


def test_more_than_one_primary_value_is_invalid_value() -> None:
    emails = [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]
    with pytest.raises(InvalidValue, match="primary"):
        load_resource(USER_RESOURCE, user(emails=emails))


def test_null_values_mean_unassigned() -> None:
    loaded = load_resource(
        USER_RESOURCE, user(displayName=None, emails=[], name={"givenName": None})
    )
    assert "displayName" not in loaded and "emails" not in loaded and "name" not in loaded


def test_non_ascii_values_round_trip_exactly() -> None:
    loaded = load_resource(
        USER_RESOURCE, user(displayName="山田 太郎", name={"familyName": "山田"})
    )
    assert loaded["displayName"] == "山田 太郎"


def test_changing_an_immutable_attribute_is_a_mutability_error() -> None:
    from scimcore.schema.attributes import Attribute, ResourceType, Schema
    from scimcore.schema.attributes import Mutability as Mut

    schema = Schema(
        "urn:example:Thing",
        "Thing",
        "",
        (Attribute("name", required=True), Attribute("serial", mutability=Mut.IMMUTABLE)),
    )
    rt = ResourceType("Thing", "Thing", "/Things", "", schema)
    check_immutable(rt, {"serial": "1"}, {"serial": "1"})
    check_immutable(rt, {}, {"serial": "2"})
    with pytest.raises(Mutability):
        check_immutable(rt, {"serial": "1"}, {"serial": "2"})


@pytest.mark.parametrize(
    ("resource", "body", "detail"),
    [
        (
            USER_RESOURCE,
            user(name="Bob"),
            "'name' must be a JSON object with sub-attributes (formatted, familyName, "
            "givenName, middleName, …).",
        ),
        (
            USER_RESOURCE,
            user(emails=["a@b"]),
            "'emails[0]' must be a JSON object with sub-attributes (value, display, type, "
            "primary).",
        ),
        (
            USER_RESOURCE,
            user(emails="a@b"),
            "'emails' must be a JSON array of objects with sub-attributes (value, display, "
            "type, primary).",
        ),
        (
            USER_RESOURCE,
            {
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "b",
                ENTERPRISE_USER_SCHEMA: {"manager": "someid"},
            },
            f"'{ENTERPRISE_USER_SCHEMA}:manager' must be a JSON object with sub-attributes "
            "(value, $ref).",
        ),
        (
            USER_RESOURCE,
            {
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "b",
                ENTERPRISE_USER_SCHEMA: {"manager": {"value": 3}},
            },
            f"Attribute '{ENTERPRISE_USER_SCHEMA}:manager.value': Expected a string.",
        ),
        (
            GROUP_RESOURCE,
            {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": ["x"]},
            "'members[0]' must be a JSON object with sub-attributes (value, $ref, display, type).",
        ),
        (
            USER_RESOURCE,
            user(name={"givenName": 5}),
            "Attribute 'name.givenName': Expected a string.",
        ),
    ],
)
def test_a_value_of_the_wrong_json_type_is_named_in_scim_terms(
    resource: Any, body: dict[str, Any], detail: str
) -> None:
    """marshmallow's own keys (``_schema``, ``_ext0``) never reach the client."""
    with pytest.raises(InvalidValue) as refused:
        load_resource(resource, body)
    assert refused.value.detail == detail
    assert "_schema" not in detail and "Invalid input type" not in detail
