"""A PATCH's cost is bounded: operations, values per attribute, and value-filter work.

Each bound turns a request that would hold a thread for seconds or minutes (a 1 MB
body of filtered removals over 1,000 emails took minutes) into a prompt 4xx that says
what to do.
"""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.errors import InvalidValue, PayloadTooLarge, TooMany
from scimcore.patch import apply_patch, parse_patch_request
from scimcore.patch.engine import MAX_FILTER_COMPARISONS, FilterBudget
from scimcore.patch.request import MAX_PATCH_OPERATIONS
from scimcore.schema.attributes import MAX_VALUES
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def user(emails: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u",
        "userName": "bjensen",
        "emails": [{"value": f"e{i}@example.com"} for i in range(emails)],
    }


def test_more_operations_than_the_limit_are_refused_before_any_is_read() -> None:
    operation = {"op": "replace", "path": "title", "value": "x"}
    assert len(parse_patch_request(body(*[operation] * MAX_PATCH_OPERATIONS))) == 1000
    with pytest.raises(PayloadTooLarge, match="at most 1,000"):
        parse_patch_request(body(*[operation] * (MAX_PATCH_OPERATIONS + 1)))


def test_an_attribute_may_reach_its_limit_of_values_but_not_pass_it() -> None:
    full = user(MAX_VALUES - 1)
    add = {"op": "add", "path": "emails", "value": [{"value": "last@example.com"}]}
    result = apply_patch(USER_RESOURCE, full, parse_patch_request(body(add)))
    assert len(result.resource["emails"]) == MAX_VALUES
    another = {"op": "add", "path": "emails", "value": [{"value": "one-more@example.com"}]}
    with pytest.raises(InvalidValue, match="'emails' has 1,001 values"):
        apply_patch(USER_RESOURCE, result.resource, parse_patch_request(body(another)))


def test_adding_thousands_of_duplicate_values_is_linear_and_keeps_one_of_each() -> None:
    many = [{"value": f"e{i % 10}@example.com"} for i in range(50_000)]
    add = {"op": "add", "path": "emails", "value": many}
    result = apply_patch(USER_RESOURCE, user(10), parse_patch_request(body(add)))
    assert len(result.resource["emails"]) == 10


def test_value_filters_stop_at_the_bound_on_elements_tested() -> None:
    emails = user(MAX_VALUES)
    removals = [{"op": "remove", "path": f'emails[value eq "x{i}"]'} for i in range(100)]
    apply_patch(USER_RESOURCE, emails, parse_patch_request(body(*removals)))  # 100,000 tests
    with pytest.raises(TooMany, match="more than 100,000 comparisons"):
        apply_patch(USER_RESOURCE, emails, parse_patch_request(body(*removals, removals[0])))
    assert MAX_FILTER_COMPARISONS == 100_000


def test_a_filter_of_many_comparisons_spends_the_bound_for_each() -> None:
    """99 operations of 198 comparisons over 1,000 emails took 52 s of CPU."""
    emails = user(MAX_VALUES)
    many = " and ".join(f'not (value co "zz{i}")' for i in range(198))
    replace = {"op": "replace", "path": f"emails[{many}].display", "value": "w"}
    with pytest.raises(TooMany, match="comparisons"):
        apply_patch(USER_RESOURCE, emails, parse_patch_request(body(replace)))
    fewer = " and ".join(f'not (value co "zz{i}")' for i in range(100))
    replace["path"] = f"emails[{fewer}].display"
    apply_patch(USER_RESOURCE, emails, parse_patch_request(body(replace)))  # 100,000


def test_a_member_filter_runs_over_a_group_as_large_as_the_bound() -> None:
    members = [{"value": f"u{i}", "type": "User"} for i in range(MAX_FILTER_COMPARISONS)]
    remove = {"op": "remove", "path": 'members[type eq "Group"]'}
    group = {"id": "g", "displayName": "Everyone"}
    result = apply_patch(
        GROUP_RESOURCE, group, parse_patch_request(body(remove)), load_members=lambda: members
    )
    assert not result.members


def test_patches_given_one_budget_share_it() -> None:
    emails = user(MAX_VALUES)
    removals = [{"op": "remove", "path": f'emails[value eq "x{i}"]'} for i in range(60)]
    budget = FilterBudget()
    apply_patch(USER_RESOURCE, emails, parse_patch_request(body(*removals)), budget=budget)
    with pytest.raises(TooMany):
        apply_patch(USER_RESOURCE, emails, parse_patch_request(body(*removals)), budget=budget)
    apply_patch(USER_RESOURCE, emails, parse_patch_request(body(*removals)))  # a budget of its own
