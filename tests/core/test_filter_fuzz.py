"""Property tests: the parser fails only with InvalidFilter; matching obeys its algebra."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scimcore.errors import InvalidFilter
from scimcore.filters import Filter, Not, Or, matches, parse_filter
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE

# Fragments that make up real filters, so random combinations get deep into the parser.
FRAGMENTS = [
    "userName", "USERNAME", "emails", "emails.value", "emails.type", "name", "name.givenName",
    "meta.created", "meta.lastModified", "active", "title", "id", "schemas", "members",
    "x509Certificates.value", "urn:ietf:params:scim:schemas:core:2.0:User:",
    f"{ENTERPRISE_USER_SCHEMA}:", "manager", ".value", "employeeNumber", "foo",
    "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not",
    "AND", "Or", "NOT", "(", ")", "[", "]", "true", "False", "null", "0", "-1", "1.5",
    "1e5", "1e999", '"x"', '"a\\"b"', '"\\u00e9"', '"\\x"', '"', "\\", '"True"',
    '"2011-05-13T04:42:34Z"', '"2011-05-13T04:42:34+14:00"', '"0001-01-01T00:00:00+01:00"',
    '"9999-12-31T23:59:59-01:00"', '"山田"', " ", "\t", "\n", ".", ":", "$ref", "#",
]  # fmt: skip


def _parse_or_invalid(text: str) -> None:
    for rt in (USER_RESOURCE, GROUP_RESOURCE):
        try:
            parse_filter(text, rt)
        except InvalidFilter as exc:
            assert exc.detail
            assert exc.status == 400


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_arbitrary_text_only_ever_raises_invalid_filter(text: str) -> None:
    _parse_or_invalid(text)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14), st.sampled_from([" ", ""]))
def test_token_soup_only_ever_raises_invalid_filter(parts: list[str], sep: str) -> None:
    _parse_or_invalid(sep.join(parts))


# -- the matching algebra on random user resources ---------------------------

WORDS = st.sampled_from(["", "a", "A", "ab", "b", "work", "Work", "home", "é", "É"])
EMAIL = st.fixed_dictionaries(
    {}, optional={"value": st.one_of(st.none(), WORDS), "type": WORDS, "primary": st.booleans()}
)
USER = st.fixed_dictionaries(
    {},
    optional={
        "userName": WORDS,
        "title": st.one_of(st.none(), WORDS),
        "externalId": WORDS,
        "active": st.booleans(),
        "emails": st.one_of(st.none(), st.lists(EMAIL, max_size=3)),
        "meta": st.fixed_dictionaries(
            {},
            optional={
                "created": st.sampled_from(
                    ["2011-05-13T04:42:34.000000Z", "2011-05-13T04:42:35.000000Z", "bogus"]
                )
            },
        ),
    },
)
PATHS = ["userName", "title", "externalId", "emails.value", "emails.type", "emails"]
VALUES = ['""', '"a"', '"A"', '"work"', '"é"']


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["cmp", "pr", "bool", "date", "vp"]))
    if kind == "pr":
        return f"{draw(st.sampled_from(PATHS))} pr"
    if kind == "bool":
        return f"active {draw(st.sampled_from(['eq', 'ne']))} {draw(st.booleans())}".lower()
    if kind == "date":
        op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]))
        return f'meta.created {op} "2011-05-13T06:42:34+02:00"'
    op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]))
    if kind == "vp":
        sub = draw(st.sampled_from(["value", "type"]))
        return f"emails[{sub} {op} {draw(st.sampled_from(VALUES))}]"
    return f"{draw(st.sampled_from(PATHS))} {op} {draw(st.sampled_from(VALUES))}"


def _p(text: str) -> Filter:
    return parse_filter(text, USER_RESOURCE)


@settings(max_examples=300, deadline=None)
@given(atoms(), atoms(), USER)
def test_matching_is_boolean_algebra(a: str, b: str, user: dict[str, Any]) -> None:
    fa, fb = _p(a), _p(b)
    ma, mb = matches(fa, user), matches(fb, user)
    assert matches(_p(f"not ({a})"), user) is (not ma)
    assert matches(_p(f"{a} and {b}"), user) is (ma and mb)
    assert matches(_p(f"{a} or {b}"), user) is (ma or mb)
    assert matches(Not(Or(fa, fb)), user) is matches(_p(f"not ({a}) and not ({b})"), user)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), st.sampled_from([*VALUES, "null"]), USER)
def test_ne_is_not_eq_and_eq_null_is_not_pr(path: str, value: str, user: dict[str, Any]) -> None:
    assert matches(_p(f"{path} ne {value}"), user) is not matches(_p(f"{path} eq {value}"), user)
    assert matches(_p(f"{path} eq null"), user) is not matches(_p(f"{path} pr"), user)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["value", "type"]), st.sampled_from(VALUES), USER)
def test_single_condition_value_path_equals_plain_comparison(
    sub: str, value: str, user: dict[str, Any]
) -> None:
    for op in ("eq", "co", "sw", "ew", "gt", "le"):
        assert matches(_p(f"emails[{sub} {op} {value}]"), user) is matches(
            _p(f"emails.{sub} {op} {value}"), user
        )
