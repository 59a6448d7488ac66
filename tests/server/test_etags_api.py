"""Versions as ETags: If-None-Match on reads, If-Match on writes (RFC 7644 3.14)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import ScimClient
from tests.server.test_groups_api import GROUP
from tests.server.test_users_api import PATCH, USER, assert_error, new_user


def test_get_carries_the_version_as_etag(scim: ScimClient) -> None:
    user = new_user(scim)
    response = scim.get(f"/Users/{user['id']}")
    assert response.headers["ETag"] == user["meta"]["version"] == 'W/"1"'


def test_if_none_match_with_current_version_is_304_without_body(scim: ScimClient) -> None:
    user = new_user(scim)
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == 'W/"1"'
    assert scim.get(f"/Users/{user['id']}", headers={"If-None-Match": 'W/"9"'}).status_code == 200


def test_each_write_changes_the_version(scim: ScimClient) -> None:
    user = new_user(scim)
    patched = scim.patch(
        f"/Users/{user['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "B"}],
        },
    )
    assert patched.headers["ETag"] == 'W/"2"' == patched.get_json()["meta"]["version"]


def test_put_with_stale_if_match_is_412_and_changes_nothing(scim: ScimClient) -> None:
    user = new_user(scim)
    body = {"schemas": [USER], "userName": user["userName"], "displayName": "Changed"}
    assert scim.put(f"/Users/{user['id']}", body, headers={"If-Match": 'W/"1"'}).status_code == 200
    stale = scim.put(
        f"/Users/{user['id']}", {**body, "displayName": "Lost"}, headers={"If-Match": 'W/"1"'}
    )
    assert_error(stale, 412)
    assert scim.get(f"/Users/{user['id']}").get_json()["displayName"] == "Changed"


def test_patch_with_stale_if_match_is_412(scim: ScimClient) -> None:
    user = new_user(scim)
    op = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert_error(scim.patch(f"/Users/{user['id']}", op, headers={"If-Match": '"7"'}), 412)
    assert scim.patch(f"/Users/{user['id']}", op, headers={"If-Match": '"1"'}).status_code == 200


def test_group_patch_with_stale_if_match_is_412(scim: ScimClient) -> None:
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "G"}).get_json()
    op = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "H"}],
    }
    ok = scim.patch(f"/Groups/{group['id']}", op, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 204 and ok.headers["ETag"] == 'W/"2"'
    assert_error(scim.patch(f"/Groups/{group['id']}", op, headers={"If-Match": 'W/"1"'}), 412)


def test_delete_with_stale_if_match_is_412_and_keeps_the_resource(scim: ScimClient) -> None:
    user = new_user(scim)
    assert_error(scim.delete(f"/Users/{user['id']}", headers={"If-Match": 'W/"2"'}), 412)
    assert scim.get(f"/Users/{user['id']}").status_code == 200
    assert scim.delete(f"/Users/{user['id']}", headers={"If-Match": "*"}).status_code == 204


def test_concurrent_puts_with_the_same_if_match_never_both_win(app: Any, scim: ScimClient) -> None:
    user = new_user(scim)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def put(n: int) -> None:
        client = ScimClient(app.test_client(), scim.slug, scim.token)
        barrier.wait()
        response = client.put(
            f"/Users/{user['id']}",
            {"schemas": [USER], "userName": user["userName"], "displayName": f"writer {n}"},
            headers={"If-Match": 'W/"1"'},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200, 412, 412, 412]
    final = scim.get(f"/Users/{user['id']}").get_json()
    assert final["meta"]["version"] == 'W/"2"'


def test_service_provider_config_advertises_etags(scim: ScimClient) -> None:
    assert scim.get("/ServiceProviderConfig").get_json()["etag"]["supported"] is True


def test_concurrent_member_patches_each_get_their_own_version_and_lose_no_member(
    app: Any, scim: ScimClient
) -> None:
    """Okta/Entra-style member PATCHes (no If-Match) change the members first and lock
    the group only for its version: every one still yields a new, distinct ETag."""
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Busy"}).get_json()
    users = [new_user(scim, f"member{n}") for n in range(6)]
    barrier = threading.Barrier(len(users))
    etags: list[str] = []

    def add(user: dict[str, Any]) -> None:
        client = ScimClient(app.test_client(), scim.slug, scim.token)
        barrier.wait()
        response = client.patch(
            f"/Groups/{group['id']}",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
            },
        )
        assert response.status_code == 204, response.get_data(as_text=True)
        etags.append(response.headers["ETag"])

    threads = [threading.Thread(target=add, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(etags) == sorted(f'W/"{n}"' for n in range(2, 2 + len(users)))
    final = scim.get(f"/Groups/{group['id']}")
    assert final.headers["ETag"] == f'W/"{1 + len(users)}"'
    assert {m["value"] for m in final.get_json()["members"]} == {u["id"] for u in users}


@pytest.mark.parametrize("header", ["*", 'W/"1"', '"9", W/"1"'])
def test_a_write_whose_if_none_match_names_the_current_version_is_412(
    scim: ScimClient, header: str
) -> None:
    """RFC 9110 13.1.2: the write is only wanted if no such version exists; it does."""
    user = new_user(scim)
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "G"}).get_json()
    uri, body = f"/Users/{user['id']}", {"schemas": [USER], "userName": user["userName"]}
    condition = {"If-None-Match": header}
    member = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
    writes = [
        scim.put(uri, {**body, "nickName": "X"}, headers=condition),
        scim.patch(
            uri,
            {"schemas": [PATCH], "Operations": [{"op": "add", "path": "nickName", "value": "X"}]},
            headers=condition,
        ),
        scim.patch(
            f"/Groups/{group['id']}",
            {"schemas": [PATCH], "Operations": [member]},
            headers=condition,
        ),
        scim.delete(uri, headers=condition),
    ]
    for response in writes:
        assert_error(response, 412)
    assert "nickName" not in scim.get(uri).get_json()
    assert "members" not in scim.get(f"/Groups/{group['id']}").get_json()


def test_a_write_whose_if_none_match_names_another_version_runs(scim: ScimClient) -> None:
    user = new_user(scim)
    body = {"schemas": [USER], "userName": user["userName"], "nickName": "Y"}
    response = scim.put(f"/Users/{user['id']}", body, headers={"If-None-Match": 'W/"7"'})
    assert response.status_code == 200 and response.get_json()["nickName"] == "Y"
