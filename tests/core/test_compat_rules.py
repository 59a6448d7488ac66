"""Every IdP rule (scimcore.compat), from the request documented in docs/idp-profiles.md.

Each rule is shown accepted under a profile that includes it and answered as the
RFC says under ``rfc``. ``CASES`` has one entry per rule, and
:func:`test_every_rule_has_a_case` keeps it that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from scimcore.compat import (
    AUTO,
    BOOLEAN_STRINGS,
    CREATE_MISSING_TYPED_VALUE,
    DOTTED_PATCH_KEYS,
    EMPTY_STRING_UNASSIGNS,
    ENTRA_FLAG_PARAMETER,
    MANAGER_BARE_STRING,
    OP_CASE,
    PATCH_WITHOUT_SCHEMAS,
    PROFILES,
    READ_ONLY_IN_PATCH_VALUE,
    REMOVE_WITH_VALUE,
    RFC,
    RULES,
    Profile,
    Rule,
    boolean_from_string,
    canonical_profile_name,
    get_profile,
    profile_for_request,
    profile_names,
)
from scimcore.errors import (
    InvalidFilter,
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
    ScimError,
)
from scimcore.filters import Compare, parse_filter
from scimcore.patch import MemberChanges, PatchResult, apply_patch, parse_patch_request
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA
from scimcore.schema.serializers import load_resource
from scimcore.storage.base import Member

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER = f"{ENTERPRISE}:manager"


def user() -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "id": "6a1d3f0e",
        "userName": "bjensen@contoso.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "babs@home.example", "type": "home", "primary": True}],
        "active": True,
        "title": "Guide",
        ENTERPRISE: {"manager": {"value": "m1"}, "department": "Tours"},
    }


def group() -> dict[str, Any]:
    return {"id": "abf4dd94", "displayName": "Test SCIMv2", "externalId": "8aa1a0c0"}


def patch_user(body: dict[str, Any], profile: Profile) -> PatchResult:
    return apply_patch(USER_RESOURCE, user(), parse_patch_request(body, profile), profile=profile)


def patch_group(body: dict[str, Any], profile: Profile) -> PatchResult:
    return apply_patch(GROUP_RESOURCE, group(), parse_patch_request(body, profile), profile=profile)


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


@dataclass(frozen=True)
class Case:
    """A rule's documented request (``run``), what acceptance looks like, and the RFC error."""

    rule: Rule
    profile: str  # a profile that includes the rule (besides auto)
    run: Callable[[Profile], Any]
    accepted: Callable[[Any], bool]
    rfc_error: type[ScimError] | None  # None: accepted under rfc too, answered differently
    scim_type: str


CASES: dict[str, Case] = {
    c.rule.id: c
    for c in [
        # idp-flows 2.2 / E1: Entra ID sends "Replace", "Add", "Remove".
        Case(
            OP_CASE,
            "entra",
            lambda p: patch_user(
                ops({"op": "Replace", "path": "name.familyName", "value": "Smith"}), p
            ),
            lambda r: r.resource["name"]["familyName"] == "Smith",
            InvalidSyntax,
            "invalidSyntax",
        ),
        # idp-flows 1.3 / O1: Okta's group rename PATCH carries no "schemas".
        Case(
            PATCH_WITHOUT_SCHEMAS,
            "okta",
            lambda p: patch_group(
                {"Operations": [{"op": "replace", "value": {"displayName": "Renamed"}}]}, p
            ),
            lambda r: r.resource["displayName"] == "Renamed",
            InvalidSyntax,
            "invalidSyntax",
        ),
        # idp-flows 1.3 / O1: "id" inside the value of the group rename.
        Case(
            READ_ONLY_IN_PATCH_VALUE,
            "okta",
            lambda p: patch_group(
                ops({"op": "replace", "value": {"id": "abf4dd94", "displayName": "Renamed"}}),
                p,
            ),
            lambda r: r.resource == {**group(), "displayName": "Renamed"},
            Mutability,
            "mutability",
        ),
        # idp-flows 2.3 / E2, default column: disable with the string "False".
        Case(
            BOOLEAN_STRINGS,
            "entra",
            lambda p: patch_user(ops({"op": "replace", "path": "active", "value": "False"}), p),
            lambda r: r.resource["active"] is False,
            InvalidValue,
            "invalidValue",
        ),
        # idp-flows 2.3 / E2, flag column: one no-path replace with dotted keys.
        Case(
            DOTTED_PATCH_KEYS,
            "entra-aadOptscim062020",
            lambda p: patch_user(
                ops(
                    {
                        "op": "replace",
                        "value": {
                            "displayName": "Babs Jensen",
                            "name.givenName": "Babs",
                            "name.familyName": "Jensen-Smith",
                            f"{ENTERPRISE}:employeeNumber": "42",
                        },
                    }
                ),
                p,
            ),
            lambda r: (
                r.resource["name"] == {"givenName": "Babs", "familyName": "Jensen-Smith"}
                and r.resource[ENTERPRISE]["employeeNumber"] == "42"
                and r.resource["displayName"] == "Babs Jensen"
            ),
            InvalidPath,
            "invalidPath",
        ),
        # idp-flows 2.3 / E2, default column: remove a member with "value" on remove.
        Case(
            REMOVE_WITH_VALUE,
            "entra",
            lambda p: patch_group(
                ops({"op": "remove", "path": "members", "value": [{"value": "u1091"}]}), p
            ),
            lambda r: r.members == MemberChanges(remove=("u1091",)),
            InvalidValue,
            "invalidValue",
        ),
        # idp-flows 2.2 / E10, E11: the manager as a bare string.
        Case(
            MANAGER_BARE_STRING,
            "entra-aadOptscim062020",
            lambda p: patch_user(
                ops(
                    {
                        "op": "add",
                        "path": MANAGER,
                        "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    }
                ),
                p,
            ),
            lambda r: (
                r.resource[ENTERPRISE]["manager"]
                == {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
            ),
            InvalidValue,
            "invalidValue",
        ),
        # idp-flows 2.5 / E9: remove the manager with replace {"value": ""}.
        Case(
            EMPTY_STRING_UNASSIGNS,
            "entra-aadOptscim062020",
            lambda p: patch_user(
                ops({"op": "replace", "path": MANAGER, "value": {"value": ""}}), p
            ),
            lambda r: r.resource[ENTERPRISE] == {"department": "Tours"},
            None,  # not an error under rfc: see test_rfc_stores_an_empty_string
            "",
        ),
        # idp-flows 2.2 / E1 and 2.5 / E9: replace the work email of a user without one.
        Case(
            CREATE_MISSING_TYPED_VALUE,
            "entra-aadOptscim062020",
            lambda p: patch_user(
                ops(
                    {
                        "op": "replace",
                        "path": 'emails[type eq "work"].value',
                        "value": "babs@contoso.com",
                    }
                ),
                p,
            ),
            lambda r: {"type": "work", "value": "babs@contoso.com"} in r.resource["emails"],
            NoTarget,
            "noTarget",
        ),
    ]
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {rule.id for rule in RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_is_accepted_by_its_profile_and_by_auto(rule_id: str) -> None:
    case = CASES[rule_id]
    for name in (case.profile, "auto"):
        profile = get_profile(name)
        assert profile.allows(case.rule)
        assert case.accepted(case.run(profile)), name


@pytest.mark.parametrize("rule_id", sorted(c.rule.id for c in CASES.values() if c.rfc_error))
def test_rule_is_answered_per_rfc_under_rfc(rule_id: str) -> None:
    case = CASES[rule_id]
    assert not RFC.allows(case.rule)
    assert case.rfc_error is not None
    with pytest.raises(case.rfc_error) as err:
        case.run(RFC)
    assert err.value.status == 400
    assert err.value.scim_type == case.scim_type
    assert err.value.detail


def test_rfc_stores_an_empty_string() -> None:
    """RFC 7643 2.5: only null and [] are "unassigned"; "" is a string value."""
    result = CASES[EMPTY_STRING_UNASSIGNS.id].run(RFC)
    assert result.resource[ENTERPRISE] == {"manager": {"value": ""}, "department": "Tours"}
    titled = patch_user(ops({"op": "replace", "path": "title", "value": ""}), RFC)
    assert titled.resource["title"] == ""
    cleared = patch_user(ops({"op": "replace", "path": "title", "value": None}), RFC)
    assert "title" not in cleared.resource


# -- the RFC form of each request works under rfc ------------------------------------------


def test_rfc_forms_of_the_same_changes_are_accepted_under_rfc() -> None:
    lower = patch_user(ops({"op": "replace", "path": "active", "value": False}), RFC)
    assert lower.resource["active"] is False
    nested = patch_user(
        ops(
            {
                "op": "replace",
                "value": {"name": {"givenName": "Babs"}, ENTERPRISE: {"employeeNumber": "42"}},
            }
        ),
        RFC,
    )
    assert nested.resource["name"]["givenName"] == "Babs"
    assert nested.resource[ENTERPRISE]["employeeNumber"] == "42"
    manager = patch_user(ops({"op": "add", "path": MANAGER, "value": {"value": "m2"}}), RFC)
    assert manager.resource[ENTERPRISE]["manager"] == {"value": "m2"}
    removed = patch_group(ops({"op": "remove", "path": 'members[value eq "u1091"]'}), RFC)
    assert removed.members == MemberChanges(remove=("u1091",))
    added = patch_group(
        ops({"op": "add", "path": "members", "value": [{"value": "u1", "display": "a"}]}), RFC
    )
    assert added.members == MemberChanges(add=(Member("u1", "User", "a"),))


def test_add_with_a_filter_still_creates_the_element_under_rfc() -> None:
    """RFC 7644 3.5.2.1: add to a target that does not exist adds it (kept in every profile)."""
    result = patch_user(
        ops({"op": "add", "path": 'emails[type eq "work"].value', "value": "b@contoso.com"}), RFC
    )
    assert {"type": "work", "value": "b@contoso.com"} in result.resource["emails"]


def test_rfc_op_case_error_says_what_to_send() -> None:
    with pytest.raises(InvalidSyntax) as err:
        parse_patch_request(ops({"op": "Replace", "path": "active", "value": False}), RFC)
    assert "lower case" in err.value.detail and "rfc@1" in err.value.detail


def test_rfc_remove_with_empty_or_null_value_is_a_plain_remove() -> None:
    values: list[Any] = [None, []]
    for value in values:
        parsed = parse_patch_request(ops({"op": "remove", "path": "title", "value": value}), RFC)
        assert parsed[0].op == "remove"


def test_rfc_schemas_present_but_wrong_is_rejected_in_every_profile() -> None:
    body = {"schemas": [USER_SCHEMA], "Operations": [{"op": "replace", "value": {}}]}
    for profile in PROFILES:
        with pytest.raises(InvalidSyntax):
            parse_patch_request(body, profile)


# -- boolean strings outside PATCH: POST/PUT bodies and filters ------------------------------


def test_boolean_strings_in_post_body() -> None:
    body = {"schemas": [USER_SCHEMA], "userName": "babs", "active": "False"}
    assert load_resource(USER_RESOURCE, body, get_profile("entra"))["active"] is False
    with pytest.raises(InvalidValue) as err:
        load_resource(USER_RESOURCE, body, RFC)
    assert "active" in err.value.detail
    assert load_resource(USER_RESOURCE, {**body, "active": False}, RFC)["active"] is False


def test_boolean_strings_in_filters() -> None:
    parsed = parse_filter('active eq "True"', USER_RESOURCE, get_profile("entra"))
    assert isinstance(parsed, Compare) and parsed.value is True
    with pytest.raises(InvalidFilter):
        parse_filter('active eq "True"', USER_RESOURCE, RFC)
    strict = parse_filter("active eq true", USER_RESOURCE, RFC)
    assert isinstance(strict, Compare) and strict.value is True


def test_boolean_from_string() -> None:
    assert boolean_from_string(" FALSE ", AUTO) is False
    assert boolean_from_string("True", AUTO) is True
    assert boolean_from_string("yes", AUTO) is None
    assert boolean_from_string(True, AUTO) is None
    assert boolean_from_string("True", RFC) is None


# -- profiles --------------------------------------------------------------------------------


def test_profile_contents() -> None:
    def ids(name: str) -> set[str]:
        return set(get_profile(name).rules)

    every = {r.id for r in RULES}
    assert ids("auto") == every
    assert ids("rfc") == set()
    assert ids("okta") == {PATCH_WITHOUT_SCHEMAS.id, READ_ONLY_IN_PATCH_VALUE.id}
    flag = {
        DOTTED_PATCH_KEYS.id,
        MANAGER_BARE_STRING.id,
        EMPTY_STRING_UNASSIGNS.id,
        CREATE_MISSING_TYPED_VALUE.id,
    }
    assert ids("entra-aadOptscim062020") == flag
    assert ids("entra") == flag | {OP_CASE.id, BOOLEAN_STRINGS.id, REMOVE_WITH_VALUE.id}
    assert ids("entra-aadOptscim062020") < ids("entra") <= ids("auto")


def test_every_rule_documents_its_idp_source_and_rfc_text() -> None:
    assert len({r.id for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.id.split(".")[0] in ("okta", "entra")
        assert rule.source.startswith("https://")
        assert "RFC 764" in rule.relaxes
        assert rule.idp and rule.description and rule.accepts and rule.rfc_answer


@pytest.mark.parametrize(
    ("name", "key"),
    [
        (None, "auto@1"),
        ("", "auto@1"),
        ("okta", "okta@1"),
        ("OKTA@1", "okta@1"),
        (" entra ", "entra@1"),
        ("Entra-AADOPTSCIM062020", "entra-aadOptscim062020@1"),
        ("rfc@1", "rfc@1"),
    ],
)
def test_get_profile(name: str | None, key: str) -> None:
    assert get_profile(name).key == key


@pytest.mark.parametrize("name", ["okta@2", "okta@", "oktaa", "strict", "@1"])
def test_unknown_profile_is_invalid_value_listing_known_names(name: str) -> None:
    with pytest.raises(InvalidValue) as err:
        get_profile(name)
    assert err.value.status == 400
    for known in ("auto", "okta", "entra", "entra-aadOptscim062020", "rfc", "okta@1"):
        assert known in err.value.detail
    assert repr(name) in err.value.detail


def test_canonical_profile_names_keep_pins() -> None:
    assert canonical_profile_name("OKTA") == "okta"
    assert canonical_profile_name("okta@1") == "okta@1"
    assert canonical_profile_name(None) == "auto"
    assert set(profile_names()) >= {"auto", "rfc", "auto@1", "rfc@1"}


@pytest.mark.parametrize(
    ("configured", "query", "expected"),
    [
        ("auto", {ENTRA_FLAG_PARAMETER: ""}, "entra-aadOptscim062020"),
        ("entra", {ENTRA_FLAG_PARAMETER: ""}, "entra-aadOptscim062020"),
        ("entra", {"AADOPTSCIM062020": "", "filter": "x"}, "entra-aadOptscim062020"),
        ("okta", {ENTRA_FLAG_PARAMETER: ""}, "okta"),
        ("rfc", {ENTRA_FLAG_PARAMETER: ""}, "rfc"),
        ("entra-aadOptscim062020", {}, "entra-aadOptscim062020"),
        ("entra", {}, "entra"),
        ("auto", None, "auto"),
    ],
)
def test_aadoptscim062020_parameter_selects_the_flag_profile(
    configured: str, query: dict[str, str] | None, expected: str
) -> None:
    assert profile_for_request(get_profile(configured), query).name == expected


def test_profile_rejects_unknown_rule_ids() -> None:
    with pytest.raises(ValueError, match="unknown rules"):
        Profile("x", 1, frozenset({"okta.nope"}))
