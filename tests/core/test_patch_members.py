"""Group ``members`` PATCHes become :class:`MemberChanges` (RFC 7644 3.5.2)."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from scimcore.patch import MemberChanges, PatchResult, apply_patch, parse_patch_request
from scimcore.schema.core import GROUP_RESOURCE
from scimcore.storage.base import Member

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CURRENT = [
    {"value": "u1", "type": "User", "display": "alice"},
    {"value": "u2", "type": "User", "display": "bob"},
    {"value": "g9", "type": "Group", "display": "Admins"},
]


class Loader:
    def __init__(self, members: list[dict[str, Any]]) -> None:
        self.members = members
        self.calls = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        return [dict(m) for m in self.members]


def patch(*operations: dict[str, Any], loader: Loader | None = None) -> PatchResult:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    group = {"id": "g1", "displayName": "Tour Guides"}
    return apply_patch(GROUP_RESOURCE, group, parse_patch_request(body), load_members=loader)


def test_add_member_defaults_type_to_user_and_keeps_display() -> None:
    result = patch({"op": "add", "path": "members", "value": [{"value": "u3", "display": "c"}]})
    assert result.members == MemberChanges(add=(Member("u3", "User", "c"),))


def test_add_member_type_is_matched_case_insensitively() -> None:
    result = patch({"op": "add", "path": "members", "value": {"value": "g2", "type": "group"}})
    assert result.members.add == (Member("g2", "Group"),)


def test_add_members_as_bare_ids() -> None:
    result = patch({"op": "add", "path": "members", "value": ["u3", "u4"]})
    assert [m.value for m in result.members.add] == ["u3", "u4"]


def test_add_members_without_path_in_value_object() -> None:
    result = patch({"op": "add", "value": {"members": [{"value": "u3"}]}})
    assert result.members.add == (Member("u3"),)


def test_add_then_remove_same_member_nets_to_removal() -> None:
    result = patch(
        {"op": "add", "path": "members", "value": [{"value": "u3"}]},
        {"op": "remove", "path": 'members[value eq "u3"]'},
    )
    assert result.members == MemberChanges(remove=("u3",))


def test_remove_then_add_same_member_nets_to_addition() -> None:
    result = patch(
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "add", "path": "members", "value": [{"value": "u1", "display": "alice"}]},
    )
    assert result.members == MemberChanges(add=(Member("u1", "User", "alice"),))


def test_replace_then_add_and_remove_fold_into_the_replacement() -> None:
    result = patch(
        {"op": "replace", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "add", "path": "members", "value": [{"value": "u3"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
    )
    assert result.members == MemberChanges(replace=(Member("u2"), Member("u3")))


def test_remove_members_or_value_filter_needs_no_loading() -> None:
    loader = Loader(CURRENT)
    result = patch(
        {"op": "remove", "path": 'members[value eq "u1" or value eq "u2"]'}, loader=loader
    )
    assert result.members.remove == ("u1", "u2")
    assert loader.calls == 0


def test_remove_members_by_complex_filter_loads_members_once() -> None:
    loader = Loader(CURRENT)
    result = patch(
        {"op": "remove", "path": 'members[type eq "Group"]'},
        {"op": "remove", "path": 'members[display co "LIC"]'},
        loader=loader,
    )
    assert result.members.remove == ("g9", "u1")
    assert loader.calls == 1


def test_complex_member_filter_sees_earlier_operations() -> None:
    result = patch(
        {"op": "add", "path": "members", "value": [{"value": "g5", "type": "Group"}]},
        {"op": "remove", "path": 'members[type eq "Group"]'},
        loader=Loader(CURRENT),
    )
    assert result.members == MemberChanges(remove=("g9", "g5"))


def test_complex_member_filter_without_loader_is_no_target() -> None:
    with pytest.raises(NoTarget):
        patch({"op": "remove", "path": 'members[type eq "Group"]'})


def test_replace_filtered_member_swaps_it_for_the_value() -> None:
    result = patch(
        {"op": "replace", "path": 'members[display eq "bob"]', "value": [{"value": "u7"}]},
        loader=Loader(CURRENT),
    )
    assert result.members == MemberChanges(add=(Member("u7"),), remove=("u2",))


def test_replace_filtered_member_without_match_is_no_target() -> None:
    with pytest.raises(NoTarget):
        patch(
            {"op": "replace", "path": 'members[display eq "zed"]', "value": [{"value": "u7"}]},
            loader=Loader(CURRENT),
        )


def test_member_changes_leave_resource_members_untouched() -> None:
    group = {"id": "g1", "displayName": "x", "members": [{"value": "u1"}]}
    body = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "members"}]}
    result = apply_patch(GROUP_RESOURCE, group, parse_patch_request(body))
    assert result.resource["members"] == [{"value": "u1"}]
    assert result.members == MemberChanges(replace=())
    assert result.changed


@pytest.mark.parametrize(
    "value", [[{"display": "no id"}], [{"value": ""}], [{"value": "u1", "type": "Robot"}], [5]]
)
def test_invalid_member_value_is_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        patch({"op": "add", "path": "members", "value": value})


def test_member_sub_attribute_path_is_mutability_error() -> None:
    with pytest.raises(Mutability):
        patch({"op": "replace", "path": 'members[value eq "u1"].display', "value": "x"})


def test_add_members_with_filter_is_invalid_path() -> None:
    with pytest.raises(InvalidPath):
        patch({"op": "add", "path": 'members[value eq "u1"]', "value": [{"value": "u1"}]})


def test_member_changes_are_falsy_when_empty() -> None:
    result = patch({"op": "replace", "path": "displayName", "value": "Tour Guides"})
    assert not result.members
    assert not result.changed
