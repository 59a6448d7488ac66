"""attributes / excludedAttributes and the ``returned`` characteristic (RFC 7644 3.4.2.5)."""

from __future__ import annotations

import pytest

from scimcore.errors import InvalidValue
from scimcore.projection import Projection, needs_relations, project
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA

USER = {
    "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    "id": "2819c223",
    "userName": "bjensen",
    "password": "t1meMa$heen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "bjensen@example.com", "type": "work"}],
    "active": True,
    ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "department": "Tour Operations"},
    "meta": {"resourceType": "User", "version": 'W/"1"'},
}


def test_password_is_never_returned() -> None:
    assert "password" not in project(USER_RESOURCE, USER, Projection())
    attrs = Projection.parse(USER_RESOURCE, "password,userName", None)
    assert "password" not in project(USER_RESOURCE, USER, attrs)


def test_attributes_returns_only_those_plus_always_returned_id() -> None:
    out = project(USER_RESOURCE, USER, Projection.parse(USER_RESOURCE, "userName", None))
    assert set(out) == {"schemas", "id", "userName"}


def test_sub_attribute_selection_keeps_only_that_sub_attribute() -> None:
    out = project(USER_RESOURCE, USER, Projection.parse(USER_RESOURCE, "name.givenName", None))
    assert out["name"] == {"givenName": "Barbara"}


def test_excluded_attributes_removes_from_the_default_set_but_never_id() -> None:
    out = project(USER_RESOURCE, USER, Projection.parse(USER_RESOURCE, None, "emails,id"))
    assert "emails" not in out and out["id"] == "2819c223" and "userName" in out


def test_extension_attributes_are_selected_by_urn_path() -> None:
    proj = Projection.parse(USER_RESOURCE, f"{ENTERPRISE_USER_SCHEMA}:employeeNumber", None)
    out = project(USER_RESOURCE, USER, proj)
    assert out[ENTERPRISE_USER_SCHEMA] == {"employeeNumber": "701984"}
    assert out["schemas"] == [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]


def test_schemas_lists_only_extensions_present_in_the_response() -> None:
    out = project(USER_RESOURCE, USER, Projection.parse(USER_RESOURCE, "userName", None))
    assert out["schemas"] == [USER_SCHEMA]


def test_excluding_members_means_members_are_not_loaded() -> None:
    assert not needs_relations(
        GROUP_RESOURCE, Projection.parse(GROUP_RESOURCE, None, "members"), "members"
    )
    assert needs_relations(GROUP_RESOURCE, Projection(), "members")
    assert not needs_relations(
        GROUP_RESOURCE, Projection.parse(GROUP_RESOURCE, "displayName", None), "members"
    )


def test_attribute_names_in_projection_are_case_insensitive() -> None:
    out = project(USER_RESOURCE, USER, Projection.parse(USER_RESOURCE, "USERNAME", None))
    assert out["userName"] == "bjensen"


def test_unknown_attribute_in_projection_is_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="nosuch"):
        Projection.parse(USER_RESOURCE, "nosuch", None)
