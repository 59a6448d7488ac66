"""Groups and membership over HTTP: Okta group push and Entra membership PATCHes."""

from __future__ import annotations

from typing import Any

import pytest

import scimcore.service as service_module
from scimcore.errors import TransactionConflict
from tests.conftest import ScimClient
from tests.server.test_users_api import PATCH, USER, assert_error, new_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def new_group(scim: ScimClient, name: str = "Engineering", members: list[str] = ()) -> Any:
    response = scim.post(
        "/Groups",
        {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch_group(scim: ScimClient, gid: str, *ops: dict[str, Any], query: str = "") -> Any:
    return scim.patch(f"/Groups/{gid}{query}", {"schemas": [PATCH], "Operations": list(ops)})


def member_ids(scim: ScimClient, gid: str) -> set[str]:
    return {m["value"] for m in scim.get(f"/Groups/{gid}").get_json().get("members", [])}


def test_group_created_with_members_returns_them_with_refs(scim: ScimClient) -> None:
    user = new_user(scim)
    group = new_group(scim, members=[user["id"]])
    assert group["members"][0]["value"] == user["id"]
    assert group["members"][0]["$ref"].endswith(f"/Users/{user['id']}")


def test_user_groups_is_computed_from_membership(scim: ScimClient) -> None:
    user = new_user(scim)
    group = new_group(scim, members=[user["id"]])
    groups = scim.get(f"/Users/{user['id']}").get_json()["groups"]
    assert groups[0]["value"] == group["id"] and groups[0]["display"] == "Engineering"


def test_put_and_patch_of_a_user_return_its_groups(scim: ScimClient) -> None:
    user = new_user(scim)
    sales = new_group(scim, "Sales", members=[user["id"]])
    eng = new_group(scim, "Engineering", members=[user["id"]])
    expected = sorted([sales["id"], eng["id"]])
    body = {"schemas": [USER], "userName": user["userName"], "displayName": "Babs"}
    put = scim.put(f"/Users/{user['id']}", body)
    assert put.status_code == 200, put.get_json()
    patched = scim.patch(
        f"/Users/{user['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert patched.status_code == 200, patched.get_json()
    for response in (put, patched):
        groups = response.get_json()["groups"]
        assert [g["value"] for g in groups] == expected
        assert {g["display"] for g in groups} == {"Sales", "Engineering"}
        assert groups[0]["$ref"].endswith(f"/Groups/{expected[0]}")
    assert patched.get_json()["active"] is False
    assert patched.headers["ETag"] == 'W/"3"'
    excluded = scim.put(f"/Users/{user['id']}?excludedAttributes=groups", body)
    assert "groups" not in excluded.get_json()


def test_duplicate_display_name_is_409(scim: ScimClient) -> None:
    new_group(scim, "Sales")
    assert_error(
        scim.post("/Groups", {"schemas": [GROUP], "displayName": "SALES"}), 409, "uniqueness"
    )


def test_member_that_does_not_exist_is_400_invalid_value(scim: ScimClient) -> None:
    assert_error(
        scim.post(
            "/Groups",
            {"schemas": [GROUP], "displayName": "x", "members": [{"value": "no-such-user"}]},
        ),
        400,
        "invalidValue",
    )


def test_okta_membership_patch_removes_and_adds_in_one_request(scim: ScimClient) -> None:
    a, b = new_user(scim, "a@x.com"), new_user(scim, "b@x.com")
    group = new_group(scim, members=[a["id"]])
    response = patch_group(
        scim,
        group["id"],
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'},
        {"op": "add", "path": "members", "value": [{"value": b["id"], "display": "b@x.com"}]},
    )
    assert response.status_code in (200, 204)
    assert member_ids(scim, group["id"]) == {b["id"]}


def test_entra_remove_member_with_value_list(scim: ScimClient) -> None:
    a, b = new_user(scim, "a@x.com"), new_user(scim, "b@x.com")
    group = new_group(scim, members=[a["id"], b["id"]])
    patch_group(
        scim, group["id"], {"op": "Remove", "path": "members", "value": [{"value": a["id"]}]}
    )
    assert member_ids(scim, group["id"]) == {b["id"]}


def test_okta_rename_with_id_inside_value(scim: ScimClient) -> None:
    group = new_group(scim, "Old name")
    patch_group(
        scim,
        group["id"],
        {"op": "replace", "value": {"id": group["id"], "displayName": "New name"}},
    )
    assert scim.get(f"/Groups/{group['id']}").get_json()["displayName"] == "New name"


def test_patch_with_attributes_returns_200_and_the_group(scim: ScimClient) -> None:
    group = new_group(scim)
    response = patch_group(
        scim,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        query="?attributes=displayName",
    )
    assert response.status_code == 200 and response.get_json()["displayName"] == "Renamed"


def test_excluded_members_are_not_returned(scim: ScimClient) -> None:
    user = new_user(scim)
    group = new_group(scim, members=[user["id"]])
    got = scim.get(f"/Groups/{group['id']}?excludedAttributes=members").get_json()
    assert "members" not in got and got["displayName"] == "Engineering"
    listed = scim.get('/Groups?excludedAttributes=members&filter=displayName eq "engineering"')
    assert listed.get_json()["totalResults"] == 1
    assert "members" not in listed.get_json()["Resources"][0]


def test_deleting_a_user_removes_its_memberships(scim: ScimClient) -> None:
    user = new_user(scim)
    group = new_group(scim, members=[user["id"]])
    scim.delete(f"/Users/{user['id']}")
    assert member_ids(scim, group["id"]) == set()


def test_put_group_replaces_members(scim: ScimClient) -> None:
    a, b = new_user(scim, "a@x.com"), new_user(scim, "b@x.com")
    group = new_group(scim, members=[a["id"]])
    response = scim.put(
        f"/Groups/{group['id']}",
        {"schemas": [GROUP], "displayName": "Eng", "members": [{"value": b["id"]}]},
    )
    assert response.status_code == 200
    assert member_ids(scim, group["id"]) == {b["id"]}


def test_root_search_spans_users_and_groups(scim: ScimClient) -> None:
    new_user(scim)
    new_group(scim)
    body = scim.post(
        "/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    ).get_json()
    assert body["totalResults"] == 2
    assert {r["meta"]["resourceType"] for r in body["Resources"]} == {"User", "Group"}


def test_root_search_applies_type_specific_attributes_and_filters_per_type(
    scim: ScimClient,
) -> None:
    new_user(scim, "root@x.com")
    new_group(scim, "Root group")
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    by_name = scim.post("/.search", {**search, "filter": 'userName eq "root@x.com"'}).get_json()
    assert [r["userName"] for r in by_name["Resources"]] == ["root@x.com"]
    projected = scim.post("/.search", {**search, "attributes": ["name", "members"]}).get_json()
    assert projected["totalResults"] == 2
    assert scim.post("/.search", {**search, "filter": 'nope eq "x"'}).status_code == 400


def test_member_display_sent_by_the_client_is_kept(scim: ScimClient) -> None:
    a, b = new_user(scim, "a@x.com"), new_user(scim, "b@x.com")
    group = scim.post(
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": "Shown",
            "members": [{"value": a["id"], "display": "Alice A."}],
        },
    )
    assert group.get_json()["members"][0]["display"] == "Alice A."
    patch_group(
        scim,
        group.get_json()["id"],
        {"op": "add", "path": "members", "value": [{"value": b["id"]}]},
    )
    shown = {
        m["value"]: m["display"]
        for m in scim.get(f"/Groups/{group.get_json()['id']}").get_json()["members"]
    }
    assert shown == {a["id"]: "Alice A.", b["id"]: "b@x.com"}


def test_filters_on_members_see_membership_rows(scim: ScimClient) -> None:
    a = new_user(scim, "a@x.com")
    scim.post(
        "/Groups",
        {
            "schemas": [GROUP],
            "displayName": "Full",
            "members": [{"value": a["id"], "display": "Alice A."}],
        },
    )
    new_group(scim, "Empty")

    def names(flt: str) -> list[str]:
        body = scim.get("/Groups", query_string={"filter": flt}).get_json()
        return sorted(r["displayName"] for r in body["Resources"])

    assert names("members pr") == ["Full"]
    assert names("not (members pr)") == ["Empty"]
    assert names('members.display eq "alice a."') == ["Full"]
    assert names(f'members[value eq "{a["id"]}"]') == ["Full"]


def test_a_request_that_lost_a_conflict_runs_again(
    scim: ScimClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadlock rolls the request back whole; the service runs it again (twice here),
    and answers 503 with Retry-After only when every attempt lost one."""
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Contended"}).get_json()
    original = service_module._Context.patch
    losses = {"left": 2}

    def patch(ctx: Any, rt: Any, id: str) -> Any:
        if losses["left"]:
            losses["left"] -= 1
            raise TransactionConflict()
        return original(ctx, rt, id)

    monkeypatch.setattr(service_module._Context, "patch", patch)
    rename = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}],
    }
    assert scim.patch(f"/Groups/{group['id']}", rename).status_code == 204
    assert scim.get(f"/Groups/{group['id']}").get_json()["displayName"] == "Renamed"
    losses["left"] = service_module.CONFLICT_ATTEMPTS
    response = scim.patch(f"/Groups/{group['id']}", rename)
    assert_error(response, 503)
    assert response.headers["Retry-After"] == "1"


def _self_membership_writes(gid: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    member = [{"value": gid, "type": "Group"}]
    return [
        (
            "PATCH",
            {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": member}]},
        ),
        (
            "PATCH",
            {"schemas": [PATCH], "Operations": [{"op": "add", "value": {"members": member}}]},
        ),
        (
            "PATCH",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "members", "value": member}],
            },
        ),
        ("PUT", {"schemas": [GROUP], "displayName": name, "members": member}),
    ]


@pytest.mark.parametrize("write", range(4))
def test_a_group_cannot_be_made_a_member_of_itself(scim: ScimClient, write: int) -> None:
    """Every expansion of such a group (nested-group resolution) would never end."""
    user = new_user(scim)
    group = new_group(scim, "Loop", members=[user["id"]])
    method, body = _self_membership_writes(group["id"], "Loop")[write]
    response = scim.request(method, f"/Groups/{group['id']}", body)
    error = assert_error(response, 400, "invalidValue")
    assert "member of itself" in error["detail"] and group["id"] in error["detail"]
    assert member_ids(scim, group["id"]) == {user["id"]}
    assert scim.get(f"/Groups/{group['id']}").get_json()["meta"]["version"] == 'W/"1"'


def test_a_bulk_group_listing_its_own_bulk_id_is_refused(scim: ScimClient) -> None:
    from tests.server.test_bulk_api import bulk, post_group

    ops = bulk(scim, post_group("g", "Self", ["bulkId:g"]))
    assert ops[0]["status"] == "400", ops
    assert "member of itself" in ops[0]["response"]["detail"]
    assert scim.get("/Groups").get_json()["totalResults"] == 0, "nothing may be created"


def test_groups_may_still_contain_other_groups(scim: ScimClient) -> None:
    inner = new_group(scim, "Inner")
    outer = new_group(scim, "Outer")
    member = [{"value": inner["id"], "type": "Group"}]
    response = patch_group(scim, outer["id"], {"op": "add", "path": "members", "value": member})
    assert response.status_code == 204, response.get_json()
    assert member_ids(scim, outer["id"]) == {inner["id"]}


def test_no_content_answers_carry_no_content_type(scim: ScimClient) -> None:
    """Group PATCH and DELETE 204s were sent with ``Content-Type: text/html``."""
    member = new_user(scim)
    group = new_group(scim, members=[member["id"]])
    rename = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}],
    }
    answers = [
        scim.patch(f"/Groups/{group['id']}", rename),
        scim.delete(f"/Groups/{group['id']}"),
        scim.delete(f"/Users/{member['id']}"),
    ]
    assert [a.status_code for a in answers] == [204, 204, 204]
    for answer in answers:
        assert "Content-Type" not in answer.headers, answer.headers
        assert answer.get_data() == b""
