"""Parsing SCIM filters (RFC 7644 3.4.2.2) into resolved, type-checked trees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scimcore.errors import InvalidFilter
from scimcore.filters import (
    SCHEMAS_ATTRIBUTE,
    And,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    canonical_datetime,
    parse_filter,
)
from scimcore.filters.lexer import tokenize
from scimcore.filters.parser import MAX_TERMS, MAX_VALUE_LENGTH
from scimcore.paths import ResolvedPath, resolve
from scimcore.schema.attributes import (
    Attribute,
    AttributeType,
    ResourceType,
    Schema,
    SchemaExtension,
)
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE

ENT = ENTERPRISE_USER_SCHEMA

# A resource type with the attribute types the core schemas lack.
THING_EXT = "urn:example:params:scim:schemas:extension:test:2.0:Thing"
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
            Attribute("label"),
            Attribute("count", AttributeType.INTEGER),
            Attribute("score", AttributeType.DECIMAL),
            Attribute("blob", AttributeType.BINARY),
            Attribute("tags", multi_valued=True),
        ),
    ),
    extensions=(
        SchemaExtension(
            Schema(
                id=THING_EXT,
                name="ThingExt",
                description="ext",
                attributes=(Attribute("level", AttributeType.INTEGER),),
            )
        ),
    ),
)


def P(text: str) -> Filter:
    return parse_filter(text, USER_RESOURCE)


def path(text: str, implicit_value: bool = True) -> ResolvedPath:
    return resolve(USER_RESOURCE, text, implicit_value=implicit_value)


def eq(p: str, value: str | int | float | bool | None) -> Compare:
    return Compare(path(p), "eq", value)


# Every example filter printed in RFC 7644 section 3.4.2.2.
RFC_EXAMPLES = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'userName sw "J"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    "title pr",
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.lastModified ge "2011-05-13T04:42:34Z"',
    'meta.lastModified lt "2011-05-13T04:42:34Z"',
    'meta.lastModified le "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and (emails.type eq "work")',
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    'emails[type eq "work" and value co "@example.com"] or '
    'ims[type eq "xmpp" and value co "@foo.com"]',
]


@pytest.mark.parametrize("text", RFC_EXAMPLES)
def test_every_rfc_7644_example_parses(text: str) -> None:
    assert isinstance(P(text), Compare | Present | And | Or | Not | ValuePath)


def test_simple_comparison_resolves_canonical_path() -> None:
    assert P('USERNAME eq "bjensen"') == Compare(path("userName"), "eq", "bjensen")


def test_rfc_example_with_not_and_value_path_has_expected_tree() -> None:
    got = P('userType ne "Employee" and not (emails co "example.com" or emails.value co "x")')
    assert got == And(
        Compare(path("userType"), "ne", "Employee"),
        Not(
            Or(
                Compare(path("emails.value"), "co", "example.com"),
                Compare(path("emails.value"), "co", "x"),
            )
        ),
    )


def test_and_binds_tighter_than_or() -> None:
    assert P('title pr or userType eq "a" and active eq true') == Or(
        Present(path("title")),
        And(eq("userType", "a"), eq("active", True)),
    )
    assert P('userType eq "a" and active eq true or title pr') == Or(
        And(eq("userType", "a"), eq("active", True)),
        Present(path("title")),
    )


def test_not_binds_tighter_than_and() -> None:
    assert P('not (title pr) and userType eq "a"') == And(
        Not(Present(path("title"))), eq("userType", "a")
    )


def test_not_accepted_before_comparison_and_value_path() -> None:
    assert P('not title eq "a"') == Not(eq("title", "a"))
    assert P('not emails[type eq "work"]') == Not(
        ValuePath(path("emails", False), eq("emails.type", "work"))
    )
    assert P("not not (title pr)") == Not(Not(Present(path("title"))))


def test_parentheses_override_precedence() -> None:
    assert P('(title pr or userType eq "a") and active eq true') == And(
        Or(Present(path("title")), eq("userType", "a")), eq("active", True)
    )


def test_same_operator_chains_group_left_to_right() -> None:
    a, b, c = (eq("title", x) for x in "abc")
    assert P('title eq "a" and title eq "b" and title eq "c"') == And(And(a, b), c)
    assert P('title eq "a" or title eq "b" or title eq "c"') == Or(Or(a, b), c)


def test_the_longest_or_chain_allowed_builds_a_shallow_tree() -> None:
    text = " or ".join(f'userName eq "u{i}"' for i in range(MAX_TERMS))
    tree = P(text)

    def depth(f: Filter) -> int:
        if isinstance(f, And | Or):
            return 1 + max(depth(f.left), depth(f.right))
        return 1

    assert depth(tree) <= 9


@pytest.mark.parametrize(
    "text",
    [
        " or ".join(f'userName eq "u{i}"' for i in range(MAX_TERMS + 1)),
        " and ".join(["title pr"] * MAX_TERMS) + ' and emails[type eq "work"]',
    ],
    ids=["or-chain", "value-path-terms-count"],
)
def test_a_filter_with_more_terms_than_the_limit_is_refused_naming_it(text: str) -> None:
    with pytest.raises(InvalidFilter, match=f"at most {MAX_TERMS}"):
        P(text)


def test_a_string_value_longer_than_the_limit_is_refused_naming_it() -> None:
    assert P(f'title co "{"x" * MAX_VALUE_LENGTH}"') == Compare(
        path("title"), "co", "x" * MAX_VALUE_LENGTH
    )
    with pytest.raises(InvalidFilter, match=f"at most {MAX_VALUE_LENGTH:,}"):
        P(f'title co "{"x" * (MAX_VALUE_LENGTH + 1)}"')


@pytest.mark.parametrize(
    "text", ["meta.location pr", 'meta.location eq "x"', 'groups[$ref sw "http"]']
)
def test_values_made_when_answered_cannot_be_filtered(text: str) -> None:
    with pytest.raises(InvalidFilter, match="made from the service's URL"):
        P(text)


def test_a_stored_reference_can_be_filtered() -> None:
    enterprise = f"{ENTERPRISE_USER_SCHEMA}:manager.$ref"
    assert P(f"{enterprise} pr") == Present(path(enterprise))


def test_keywords_and_operators_are_case_insensitive() -> None:
    assert P('userName EQ "x" AND NOT (title PR) Or active Eq TRUE') == Or(
        And(eq("userName", "x"), Not(Present(path("title")))), eq("active", True)
    )


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"back\\slash"', "back\\slash"),
        (r'"caf\u00e9"', "café"),
        (r'"a\/b"', "a/b"),
        (r'"\b\f\n\r\t"', "\b\f\n\r\t"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        ('"山田 太郎"', "山田 太郎"),
        ('""', ""),
    ],
)
def test_string_values_decode_json_escapes(literal: str, decoded: str) -> None:
    assert P(f"userName eq {literal}") == eq("userName", decoded)


def test_escaped_quote_does_not_end_the_string() -> None:
    assert P(r'userName eq "a\" and title pr"') == eq("userName", 'a" and title pr')


def test_lexer_keeps_scim2_filter_parser_tokens_for_paths() -> None:
    types = [t.type for t in tokenize(f'{ENT}:manager.value eq "x"')]
    assert types == ["SCHEMA_URI", "ATTRNAME", "SUBATTR", "EQ", "COMP_VALUE", "EOF"]


def test_literal_keywords_need_a_word_boundary() -> None:
    # scim2-filter-parser lexes 'nullable' as null + able; ours is one attribute name.
    assert [t.type for t in tokenize("nullable pr")] == ["ATTRNAME", "PR", "EOF"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count gt 42", Compare(resolve(THING, "count"), "gt", 42)),
        ("count ge -7", Compare(resolve(THING, "count"), "ge", -7)),
        ("score lt 1.5", Compare(resolve(THING, "score"), "lt", 1.5)),
        ("score le 2e3", Compare(resolve(THING, "score"), "le", 2000.0)),
        ("count eq null", Compare(resolve(THING, "count"), "eq", None)),
        (f"{THING_EXT}:level eq 3", Compare(resolve(THING, f"{THING_EXT}:level"), "eq", 3)),
        ('blob eq "AAE="', Compare(resolve(THING, "blob"), "eq", "AAE=")),
        ('blob co "AA"', Compare(resolve(THING, "blob"), "co", "AA")),
    ],
)
def test_numbers_are_int_or_float_and_checked_against_type(text: str, expected: Filter) -> None:
    got = parse_filter(text, THING)
    assert got == expected
    assert isinstance(got, Compare)
    assert type(got.value) is type(expected.value)  # type: ignore[union-attr]


@pytest.mark.parametrize("literal", ["true", "TRUE", "True", '"true"', '"True"', '"TRUE"'])
def test_boolean_true_literal_and_string_tolerance(literal: str) -> None:
    assert P(f"active eq {literal}") == eq("active", True)


@pytest.mark.parametrize("literal", ["false", "FALSE", '"false"', '"False"'])
def test_boolean_false_literal_and_string_tolerance(literal: str) -> None:
    assert P(f"active ne {literal}") == Compare(path("active"), "ne", False)


def test_null_is_case_insensitive() -> None:
    assert P("title eq NULL") == eq("title", None)
    assert P("title ne Null") == Compare(path("title"), "ne", None)


@pytest.mark.parametrize(
    ("literal", "canonical"),
    [
        ("2011-05-13T04:42:34Z", "2011-05-13T04:42:34.000000Z"),
        ("2011-05-13t04:42:34z", "2011-05-13T04:42:34.000000Z"),
        ("2011-05-13 04:42:34Z", "2011-05-13T04:42:34.000000Z"),
        ("2011-05-13T04:42:34.5+02:00", "2011-05-13T02:42:34.500000Z"),
        ("2011-05-13T23:00:00-05:00", "2011-05-14T04:00:00.000000Z"),
        ("2011-05-13T04:42:34.123456789Z", "2011-05-13T04:42:34.123456Z"),
    ],
)
def test_datetime_values_are_normalised_to_canonical_utc(literal: str, canonical: str) -> None:
    assert P(f'meta.lastModified gt "{literal}"') == Compare(
        path("meta.lastModified"), "gt", canonical
    )


def test_canonical_datetime_format() -> None:
    dt = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert canonical_datetime(dt) == "2024-01-02T02:04:05.000006Z"
    assert canonical_datetime(dt) == dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert canonical_datetime(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"


def test_complex_attribute_comparison_means_its_value_sub_attribute() -> None:
    assert P('emails co "x"') == Compare(path("emails.value"), "co", "x")


def test_pr_on_complex_attribute_means_attribute_present() -> None:
    assert P("emails pr") == Present(path("emails", False))
    assert P("name pr") == Present(path("name", False))
    assert P("emails.value pr") == Present(path("emails.value"))


def test_null_comparison_on_complex_attribute_resolves_like_pr() -> None:
    assert P("emails eq null") == Compare(path("emails", False), "eq", None)
    assert P("name ne null") == Compare(path("name", False), "ne", None)
    assert P("emails.value eq null") == Compare(path("emails.value"), "eq", None)


def test_value_path_inner_paths_are_absolute() -> None:
    got = P('emails[type eq "work" and value co "@example.com"]')
    assert got == ValuePath(
        path("emails", False),
        And(eq("emails.type", "work"), Compare(path("emails.value"), "co", "@example.com")),
    )
    assert isinstance(got, ValuePath)
    assert isinstance(got.filter, And)
    assert isinstance(got.filter.left, Compare)
    assert got.filter.left.path.keys == ("emails", "type")


def test_value_path_inner_names_are_case_insensitive() -> None:
    assert P('EMAILS[TYPE eq "work"]') == P('emails[type eq "work"]')


def test_entra_value_path_with_trailing_sub_attribute() -> None:
    assert P('emails[type eq "work"].value eq "x@y.com"') == ValuePath(
        path("emails", False), And(eq("emails.type", "work"), eq("emails.value", "x@y.com"))
    )
    assert P('addresses[type eq "work"].postalCode pr') == ValuePath(
        path("addresses", False),
        And(eq("addresses.type", "work"), Present(path("addresses.postalCode"))),
    )


def test_value_path_on_single_valued_complex_attribute() -> None:
    assert P('name[givenName eq "Barbara"]') == ValuePath(
        path("name", False), eq("name.givenName", "Barbara")
    )


def test_extension_urn_paths() -> None:
    emp = P(f'{ENT}:employeeNumber eq "701984"')
    assert isinstance(emp, Compare)
    assert emp.path.keys == (ENT, "employeeNumber")
    mgr = P(f'{ENT.upper()}:MANAGER.VALUE eq "26118915"')
    assert isinstance(mgr, Compare)
    assert mgr.path.keys == (ENT, "manager", "value")
    assert P(f'{ENT}:manager eq "x"') == mgr.__class__(mgr.path, "eq", "x")
    vp = P(f'{ENT}:manager[value eq "1"]')
    assert isinstance(vp, ValuePath)
    assert vp.path.keys == (ENT, "manager")


def test_core_urn_qualified_path_equals_bare_path() -> None:
    assert P('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"') == P('userName sw "J"')
    assert P('urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "B"') == P(
        'name.givenName eq "B"'
    )


def test_schemas_resolves_to_root_schemas_attribute() -> None:
    got = P(f'schemas eq "{ENT}"')
    assert got == Compare(ResolvedPath(None, False, SCHEMAS_ATTRIBUTE), "eq", ENT)
    assert isinstance(got, Compare)
    assert got.path.keys == ("schemas",)


def test_group_filters() -> None:
    got = parse_filter('members[value eq "2819c223"] and displayName sw "Tour"', GROUP_RESOURCE)
    assert isinstance(got, And)
    assert isinstance(got.left, ValuePath)
    assert got.left.path.keys == ("members",)


def test_dollar_ref_sub_attribute_of_members_is_made_when_answered() -> None:
    with pytest.raises(InvalidFilter, match=r"'members\.\$ref'.*filter on 'members.value'"):
        parse_filter('members[$ref co "/Users/"]', GROUP_RESOURCE)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "The filter is empty"),
        ("   ", "The filter is empty"),
        ('userName eq "a" and and', "Unexpected 'and' at position 21"),
        ('userName eq "a" and', "Unexpected end of filter"),
        ('userName eq "abc', "Unterminated string starting at position 13"),
        ('userName eq "a\\"', "Unterminated string"),
        ('userName eq "\\x"', "Invalid escape sequence"),
        ('foo eq "x"', "Unknown attribute 'foo' at position 1"),
        ('name.foo eq "x"', "Unknown attribute 'name.foo'"),
        (f'{ENT}:nothing eq "x"', "Unknown attribute"),
        ('urn:bogus:schema:userName eq "x"', "not a schema of the User resource type"),
        ('emails[foo eq "x"]', "'emails' has no sub-attribute 'foo'"),
        ('emails[type eq "work"].foo eq "x"', "'emails' has no sub-attribute 'foo'"),
        ("active gt true", "Operator 'gt' cannot be applied to boolean attribute 'active'"),
        ("userName gt null", "null can only be compared with eq or ne"),
        ('active eq "yes"', "Attribute 'active' is boolean"),
        ("active eq 1", "Attribute 'active' is boolean"),
        ("userName eq 42", "Attribute 'userName' is a string"),
        ("userName eq true", "Attribute 'userName' is a string"),
        ('meta.created co "2011"', "Operator 'co' cannot be applied to dateTime"),
        ('meta.created gt "yesterday"', "RFC 3339 date-time"),
        ('meta.created gt "2011-05-13T04:42:34"', "RFC 3339 date-time"),
        ('meta.created gt "2011-13-13T04:42:34Z"', "RFC 3339 date-time"),
        ("meta.created gt 2011", "RFC 3339 date-time"),
        ('x509Certificates.value gt "AA"', "cannot be applied to binary attribute"),
        ('emails[type[value eq "x"]]', "Nested value filter"),
        ('emails[type eq "work"]]', "Unexpected ']'"),
        ('emails[type eq "work"', "to close the '['"),
        ('(userName eq "a"', "to close the '('"),
        ('userName eq "a")', "Unexpected ')' at position 16"),
        ('userName[value eq "x"]', "applies only to complex attributes"),
        ('name.givenName[value eq "x"]', "must follow a complex attribute"),
        ('emails[emails.type eq "x"]', "name a sub-attribute of 'emails'"),
        ('name eq "x"', "Attribute 'name' is complex"),
        ("userName", "expected an operator"),
        ('userName xx "a"', "expected an operator"),
        ("userName eq", "expected a value after 'eq'"),
        ('userName eq "a" userName eq "b"', "expected 'and', 'or' or the end"),
        ('userName eq "a" # x', "Unexpected character '#'"),
        ("count eq 1e999", "out of range"),
        ('count eq "5"', "Attribute 'count' is integer"),
        ("count sw 5", "Operator 'sw' cannot be applied to integer attribute 'count'"),
        ("(" * 60 + "label pr" + ")" * 60, "nested too deeply"),
        ("not " * 60 + "label pr", "nested too deeply"),
    ],
)
def test_malformed_filters_raise_invalid_filter_with_pointed_detail(text: str, detail: str) -> None:
    rt = THING if ("count" in text or "label" in text) else USER_RESOURCE
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text, rt)
    assert detail in info.value.detail
    assert info.value.to_dict()["scimType"] == "invalidFilter"


def test_error_detail_quotes_the_filter() -> None:
    with pytest.raises(InvalidFilter) as info:
        P('userName eq "a" and and')
    assert info.value.detail.startswith(
        "Unexpected 'and' at position 21 in filter 'userName eq \"a\" and and'"
    )


def test_nul_character_in_a_string_is_invalid_filter() -> None:
    """No stored value can contain NUL; PostgreSQL could not even compare it."""
    with pytest.raises(InvalidFilter, match="NUL"):
        parse_filter('userName eq "a\\u0000b"', USER_RESOURCE)
