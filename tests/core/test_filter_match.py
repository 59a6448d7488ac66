"""In-memory filter evaluation (RFC 7644 3.4.2.2) on small sample resources."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.filters import And, Compare, Not, Present, ValuePath, matches, parse_filter
from scimcore.filters.parser import MAX_TERMS
from scimcore.paths import resolve
from scimcore.schema.attributes import Attribute, AttributeType, ResourceType, Schema
from scimcore.schema.core import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_RESOURCE,
    GROUP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)

ENT = ENTERPRISE_USER_SCHEMA

# A resource type with the attribute types the core schemas lack.
THING = ResourceType(
    id="Thing",
    name="Thing",
    endpoint="/Things",
    description="Test resource",
    schema=Schema(
        id="urn:example:params:scim:schemas:core:2.0:Thing",
        name="Thing",
        description="Thing",
        attributes=(
            Attribute("count", AttributeType.INTEGER),
            Attribute("score", AttributeType.DECIMAL),
            Attribute("tags", multi_valued=True),
        ),
    ),
)

BJENSEN: dict[str, Any] = {
    "schemas": [USER_SCHEMA, ENT],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "bjensen",
    "userName": "bjensen",
    "name": {"familyName": "O'Malley", "givenName": "Barbara"},
    "title": "Tour Guide",
    "userType": "Employee",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22.000000Z",
        "lastModified": "2011-05-13T04:42:34.000000Z",
    },
    ENT: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
}
JSMITH: dict[str, Any] = {
    "schemas": [USER_SCHEMA],
    "id": "c3a26dd3",
    "userName": "JSmith",
    "userType": "Intern",
    "active": False,
    "emails": [
        {"value": "jsmith@example.org", "type": "home"},
        {"value": "js@work.net", "type": "work"},
    ],
    "meta": {
        "resourceType": "User",
        "created": "2011-05-13T04:42:34.000000Z",
        "lastModified": "2012-01-01T00:00:00.000000Z",
    },
}
YAMADA: dict[str, Any] = {
    "schemas": [USER_SCHEMA],
    "id": "a1b2",
    "userName": "yamada",
    "displayName": "山田 太郎",
    "title": "",
    "userType": "Contractor",
    "emails": [],
    "meta": {
        "resourceType": "User",
        "created": "2009-01-01T00:00:00.000000Z",
        "lastModified": "2011-05-13T04:42:33.999999Z",
    },
}
USERS = {"bjensen": BJENSEN, "jsmith": JSMITH, "yamada": YAMADA}


def hits(text: str, resources: dict[str, dict[str, Any]] | None = None) -> set[str]:
    resources = USERS if resources is None else resources
    f = parse_filter(text, USER_RESOURCE)
    return {name for name, res in resources.items() if matches(f, res)}


def one(text: str, resource: dict[str, Any]) -> bool:
    return matches(parse_filter(text, USER_RESOURCE), resource)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "bjensen"', {"bjensen"}),
        ('name.familyName co "O\'Malley"', {"bjensen"}),
        ('userName sw "J"', {"jsmith"}),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', {"jsmith"}),
        ("title pr", {"bjensen"}),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"jsmith"}),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', {"jsmith", "bjensen"}),
        ('meta.lastModified lt "2011-05-13T04:42:34Z"', {"yamada"}),
        ('meta.lastModified le "2011-05-13T04:42:34Z"', {"yamada", "bjensen"}),
        ('title pr and userType eq "Employee"', {"bjensen"}),
        ('title pr or userType eq "Intern"', {"bjensen", "jsmith"}),
        ('schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', {"bjensen"}),
        (
            'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
            {"bjensen"},
        ),
        (
            'userType ne "Employee" and not (emails co "example.com" or '
            'emails.value co "example.org")',
            {"yamada"},
        ),
        ('userType eq "Employee" and (emails.type eq "work")', {"bjensen"}),
        (
            'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
            {"bjensen"},
        ),
        (
            'emails[type eq "work" and value co "@example.com"] or '
            'ims[type eq "xmpp" and value co "@foo.com"]',
            {"bjensen"},
        ),
    ],
)
def test_rfc_7644_examples_match_expected_users(text: str, expected: set[str]) -> None:
    assert hits(text) == expected


def test_string_comparison_is_case_insensitive_for_username() -> None:
    assert hits('userName eq "BJENSEN"') == {"bjensen"}
    assert hits('USERNAME sw "js"') == {"jsmith"}


def test_case_exact_attributes_compare_exactly() -> None:
    assert hits('externalId eq "bjensen"') == {"bjensen"}
    assert hits('externalId eq "BJensen"') == set()
    assert hits('id eq "C3A26DD3"') == set()
    assert hits('id eq "c3a26dd3"') == {"jsmith"}


def test_string_ordering_is_lexicographic_on_lowered_strings() -> None:
    # "JSmith" lowers to "jsmith" > "bjensen"; code-point order, not locale.
    assert hits('userName gt "c"') == {"jsmith", "yamada"}
    assert hits('userName le "BJENSEN"') == {"bjensen"}
    assert hits('userName lt "b"') == set()


def test_co_sw_ew_are_substring_prefix_suffix() -> None:
    assert hits('title co "our g"') == {"bjensen"}
    assert hits('title sw "tour"') == {"bjensen"}
    assert hits('title ew "GUIDE"') == {"bjensen"}
    assert hits('title sw "Tour Guide"') == {"bjensen"}  # identical strings satisfy sw/ew
    assert hits('title ew "Tour"') == set()


def test_json_escapes_match_decoded_characters() -> None:
    quote = {"userName": 'a"b'}
    backslash = {"userName": "a\\b"}
    accent = {"userName": "café"}
    assert one(r'userName eq "a\"b"', quote)
    assert not one(r'userName eq "a\"b"', backslash)
    assert one(r'userName eq "a\\b"', backslash)
    assert one(r'userName eq "caf\u00e9"', accent)
    assert one(r'userName eq "CAF\u00c9"', accent)  # lowered: É -> é


def test_japanese_text_values() -> None:
    assert hits('displayName eq "山田 太郎"') == {"yamada"}
    assert hits('displayName co "太郎"') == {"yamada"}
    assert hits('displayName sw "山田"') == {"yamada"}
    assert hits('displayName ew "山田"') == set()


def test_multi_valued_comparison_matches_if_any_element_matches() -> None:
    assert hits('emails.value ew "@work.net"') == {"jsmith"}
    assert hits('emails.type eq "home"') == {"bjensen", "jsmith"}


def test_ne_is_exactly_not_eq() -> None:
    # Absent attribute: ne is true.
    assert hits('displayName ne "山田 太郎"') == {"bjensen", "jsmith"}
    # Multi-valued: ne is true iff no element equals.
    assert hits('emails.type ne "work"') == {"yamada"}
    assert hits('emails.type ne "other"') == {"bjensen", "jsmith", "yamada"}


def test_missing_attribute_fails_every_operator_but_ne() -> None:
    for op in ("eq", "co", "sw", "ew", "gt", "ge", "lt", "le"):
        assert not one(f'nickName {op} "a"', BJENSEN)
    assert one('nickName ne "a"', BJENSEN)


def test_pr_excludes_null_empty_string_empty_list_and_empty_object() -> None:
    assert one("title pr", {"title": "x"})
    empties: list[Any] = [None, "", [], {}]
    for empty in empties:
        assert not one("title pr", {"title": empty})
    assert not one("title pr", {})
    assert one("active pr", {"active": False})  # false is a value
    assert not one("emails pr", {"emails": []})
    assert not one("emails pr", {"emails": [{}]})
    assert one("emails pr", {"emails": [{"type": "work"}]})
    assert not one("emails.value pr", {"emails": [{"type": "work"}]})
    assert one("emails.value pr", {"emails": [{"type": "work"}, {"value": "a@b"}]})
    assert not one("name pr", {"name": {}})
    assert one("name pr", {"name": {"givenName": "B"}})


def test_eq_null_is_not_pr_and_ne_null_is_pr() -> None:
    assert hits("title eq null") == {"jsmith", "yamada"}
    assert hits("title ne null") == {"bjensen"}
    assert hits("emails.value eq null") == {"yamada"}
    assert hits("emails eq null") == {"yamada"}
    typed_only = {"emails": [{"type": "work"}]}
    assert not one("emails eq null", typed_only)  # == not (emails pr)
    assert one("emails.value eq null", typed_only)  # == not (emails.value pr)
    assert one("name eq null", {"name": {}})


def test_booleans_compare_with_eq_and_ne_only() -> None:
    assert hits("active eq true") == {"bjensen"}
    assert hits('active eq "True"') == {"bjensen"}
    assert hits("active eq false") == {"jsmith"}
    assert hits("active ne true") == {"jsmith", "yamada"}
    # A stored string is not a boolean.
    assert not one("active eq true", {"active": "true"})


def test_datetime_compares_instants_not_strings() -> None:
    assert hits('meta.created eq "2010-01-23T05:56:22+01:00"') == {"bjensen"}
    assert hits('meta.created lt "2010-01-23T04:56:22.000001Z"') == {"bjensen", "yamada"}
    # Resource values in other forms are parsed defensively.
    other_offset = {"meta": {"created": "2010-01-23T06:56:22+02:00"}}
    naive = {"meta": {"created": "2010-01-23T04:56:22"}}
    garbage = {"meta": {"created": "last tuesday"}}
    f = 'meta.created eq "2010-01-23T04:56:22Z"'
    assert one(f, other_offset)
    assert one(f, naive)
    assert not one(f, garbage)
    assert one('meta.created ne "2010-01-23T04:56:22Z"', garbage)


def test_value_path_requires_one_element_to_satisfy_all_conditions() -> None:
    # jsmith has a work email and an example.org email, but not on the same element.
    assert hits('emails[type eq "work" and value co "example"]') == {"bjensen"}
    assert hits('emails.type eq "work" and emails.value co "example"') == {"bjensen", "jsmith"}


def test_not_inside_value_path_is_per_element() -> None:
    assert hits('emails[not (type eq "work")]') == {"bjensen", "jsmith"}
    assert hits('not emails[type eq "work"]') == {"yamada"}
    # Element without a type: ne is true for it.
    assert one('emails[type ne "work"]', {"emails": [{"value": "x"}]})
    assert not one('emails[type ne "work"]', {"emails": []})


def test_entra_value_path_form() -> None:
    assert hits('emails[type eq "work"].value eq "js@work.net"') == {"jsmith"}
    assert hits('emails[type eq "home"].value eq "js@work.net"') == set()
    assert hits('emails[type eq "work"].primary eq true') == {"bjensen"}


def test_value_path_on_single_valued_complex_attribute() -> None:
    assert hits('name[givenName eq "barbara" and familyName sw "o\'"]') == {"bjensen"}
    assert hits(f'{ENT}:manager[value eq "26118915"]') == {"bjensen"}


def test_extension_urn_paths() -> None:
    assert hits(f'{ENT}:employeeNumber eq "701984"') == {"bjensen"}
    assert hits(f'{ENT}:manager.value eq "26118915"') == {"bjensen"}
    assert hits(f"{ENT}:manager pr") == {"bjensen"}
    assert hits(f"{ENT}:employeeNumber pr") == {"bjensen"}


def test_resource_keys_are_looked_up_case_insensitively() -> None:
    odd = {
        "USERNAME": "bjensen",
        "Emails": [{"VALUE": "a@b.c", "Type": "work"}],
        ENT.lower(): {"EmployeeNumber": "7"},
    }
    assert one('userName eq "bjensen"', odd)
    assert one('emails[type eq "work" and value eq "a@b.c"]', odd)
    assert one(f'{ENT}:employeeNumber eq "7"', odd)


def test_single_dict_where_list_expected_is_one_element() -> None:
    assert one('emails.value eq "a@b.c"', {"emails": {"value": "a@b.c"}})
    assert one('emails[value eq "a@b.c"]', {"emails": {"value": "a@b.c"}})


def test_wrongly_typed_resource_values_never_match() -> None:
    assert not one('userName eq "1"', {"userName": 1})
    assert one('userName ne "1"', {"userName": 1})


def test_numbers_compare_numerically() -> None:
    def thing(text: str, res: dict[str, Any]) -> bool:
        return matches(parse_filter(text, THING), res)

    assert thing("count gt 9", {"count": 10})
    assert not thing("count gt 10", {"count": 10})
    assert thing("count eq 10", {"count": 10.0})
    assert thing("score le 1.5", {"score": 1.25})
    assert not thing("count eq 1", {"count": True})
    assert not thing("count eq 1", {"count": "1"})
    assert thing('tags eq "B"', {"tags": ["a", "b"]})


def test_group_members_value_path() -> None:
    group = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Tour Guides",
        "members": [{"value": "2819c223", "type": "User"}],
    }
    f = parse_filter('members[value eq "2819c223"] and displayName sw "tour"', GROUP_RESOURCE)
    assert matches(f, group)
    # members.value is caseExact.
    assert not matches(parse_filter('members.value eq "2819C223"', GROUP_RESOURCE), group)


def test_precedence_changes_results() -> None:
    # a or b and c == a or (b and c): bjensen via "a", jsmith via neither.
    text = 'userName eq "bjensen" or userType eq "Intern" and active eq true'
    assert hits(text) == {"bjensen"}
    assert hits('(userName eq "bjensen" or userType eq "Intern") and active eq false') == {"jsmith"}


def test_hand_built_nodes_follow_the_same_rules() -> None:
    email_type = resolve(USER_RESOURCE, "emails.type")
    emails = resolve(USER_RESOURCE, "emails")
    vp = ValuePath(emails, And(Compare(email_type, "eq", "work"), Not(Present(email_type))))
    assert not matches(vp, BJENSEN)
    assert matches(Compare(email_type, "ne", None), BJENSEN)
    assert not matches(Compare(email_type, "gt", None), BJENSEN)
    # Ill-typed hand-built value: no match.
    assert not matches(Compare(resolve(USER_RESOURCE, "userName"), "eq", 5), BJENSEN)


def test_the_longest_or_chain_allowed_evaluates() -> None:
    terms = [f'userName eq "u{i}"' for i in range(MAX_TERMS - 1)]
    text = " or ".join(terms) + ' or userName eq "yamada"'
    assert hits(text) == {"yamada"}
