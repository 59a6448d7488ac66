"""Bulk operations (RFC 7644 3.7) over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

import scimcore.service as service_module
from tests.conftest import ScimClient
from tests.server.test_groups_api import GROUP, member_ids
from tests.server.test_users_api import PATCH, USER, assert_error, new_user

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def bulk(scim: ScimClient, *ops: dict[str, Any], **extra: Any) -> Any:
    response = scim.post("/Bulk", {"schemas": [BULK], "Operations": list(ops), **extra})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    return body["Operations"]


def post_user(bulk_id: str, name: str, **attrs: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"schemas": [USER], "userName": name, **attrs},
    }


def post_group(bulk_id: str, name: str, members: list[str]) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Groups",
        "bulkId": bulk_id,
        "data": {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": m} for m in members],
        },
    }


def test_rfc_example_group_references_user_created_in_same_request(scim: ScimClient) -> None:
    ops = bulk(
        scim, post_user("qwerty", "Alice"), post_group("ytrewq", "Tour Guides", ["bulkId:qwerty"])
    )
    assert [o["status"] for o in ops] == ["201", "201"]
    assert [o["bulkId"] for o in ops] == ["qwerty", "ytrewq"]
    user_id = ops[0]["location"].rsplit("/", 1)[1]
    group_id = ops[1]["location"].rsplit("/", 1)[1]
    assert member_ids(scim, group_id) == {user_id}
    assert ops[0]["version"] == 'W/"1"'


def test_forward_reference_waits_for_the_later_post(scim: ScimClient) -> None:
    ops = bulk(scim, post_group("g", "Early", ["bulkId:u"]), post_user("u", "later@x.com"))
    assert [o["status"] for o in ops] == ["201", "201"]
    assert [o["method"] for o in ops] == ["POST", "POST"]
    group_id = ops[0]["location"].rsplit("/", 1)[1]
    assert len(member_ids(scim, group_id)) == 1


def test_circular_group_references_are_resolved(scim: ScimClient) -> None:
    ops = bulk(
        scim, post_group("a", "Group A", ["bulkId:b"]), post_group("b", "Group B", ["bulkId:a"])
    )
    assert [o["status"] for o in ops] == ["201", "201"]
    a, b = (o["location"].rsplit("/", 1)[1] for o in ops)
    assert member_ids(scim, a) == {b} and member_ids(scim, b) == {a}


def test_unresolvable_cycle_is_409_for_the_operations_in_it(scim: ScimClient) -> None:
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ops = bulk(
        scim,
        post_user("x", "x@x.com", schemas=[USER, ent], **{ent: {"manager": {"value": "bulkId:y"}}}),
        post_user("y", "y@x.com", schemas=[USER, ent], **{ent: {"manager": {"value": "bulkId:x"}}}),
    )
    assert [o["status"] for o in ops] == ["409", "409"]
    assert "circular" in ops[0]["response"]["detail"]
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_fail_on_errors_stops_processing(scim: ScimClient) -> None:
    ops = bulk(scim, post_user("a", ""), post_user("b", "b@x.com"), failOnErrors=1)
    assert len(ops) == 1 and ops[0]["status"] == "400"
    assert ops[0]["response"]["scimType"] == "invalidValue"
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_without_fail_on_errors_every_operation_runs_independently(scim: ScimClient) -> None:
    new_user(scim, "taken@x.com")
    ops = bulk(scim, post_user("a", "taken@x.com"), post_user("b", "free@x.com"))
    assert [o["status"] for o in ops] == ["409", "201"]
    assert ops[0]["response"]["scimType"] == "uniqueness"


def test_reference_to_failed_post_fails_the_dependent_operation(scim: ScimClient) -> None:
    ops = bulk(scim, post_user("u", ""), post_group("g", "Team", ["bulkId:u"]))
    assert [o["status"] for o in ops] == ["400", "409"]


def test_unknown_bulk_id_is_an_operation_error(scim: ScimClient) -> None:
    ops = bulk(scim, post_group("g", "Team", ["bulkId:nobody"]))
    assert ops[0]["status"] == "400" and "nobody" in ops[0]["response"]["detail"]


def test_put_patch_delete_operations_with_versions(scim: ScimClient) -> None:
    user = new_user(scim, "v@x.com")
    path = f"/Users/{user['id']}"
    ops = bulk(
        scim,
        {
            "method": "PATCH",
            "path": path,
            "version": 'W/"1"',
            "data": {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            },
        },
        {
            "method": "PUT",
            "path": path,
            "version": 'W/"1"',
            "data": {"schemas": [USER], "userName": "v@x.com"},
        },
        {"method": "DELETE", "path": path},
    )
    assert [o["status"] for o in ops] == ["200", "412", "204"]
    assert ops[0]["version"] == 'W/"2"'
    assert scim.get(path).status_code == 404


def test_invalid_method_or_path_is_an_operation_error(scim: ScimClient) -> None:
    ops = bulk(
        scim,
        {"method": "GET", "path": "/Users"},
        {"method": "POST", "path": "/Bulk", "data": {}},
        {"method": "POST", "path": "/Users/abc", "data": {}},
    )
    assert [o["status"] for o in ops] == ["400", "400", "400"]


def test_too_many_operations_is_413(scim: ScimClient) -> None:
    ops = [{"method": "DELETE", "path": f"/Users/{i}"} for i in range(1001)]
    assert_error(scim.post("/Bulk", {"schemas": [BULK], "Operations": ops}), 413)


def test_bulk_request_without_its_schema_is_400(scim: ScimClient) -> None:
    assert_error(scim.post("/Bulk", {"Operations": []}), 400, "invalidSyntax")


def test_service_provider_config_advertises_bulk_limits(scim: ScimClient) -> None:
    spc = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    assert spc == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}


def test_an_unexpected_failure_of_one_operation_is_reported_and_the_rest_run(
    scim: ScimClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operations before it are committed: the client needs the BulkResponse that
    says so, not one 500 for the whole request ("nothing was changed" would be false)."""
    original = service_module._Context.delete

    def delete(ctx: Any, rt: Any, id: str) -> Any:
        if id == "boom":
            raise RuntimeError("a bug")
        return original(ctx, rt, id)

    monkeypatch.setattr(service_module._Context, "delete", delete)
    results = bulk(
        scim,
        post_user("a", "before-the-bug"),
        {"method": "DELETE", "path": "/Users/boom"},
        post_user("b", "after-the-bug"),
    )
    assert [r["status"] for r in results] == ["201", "500", "201"]
    assert results[1]["response"]["detail"].endswith("nothing was changed.")
    listed = scim.get('/Users?filter=userName sw "before-the-bug"').get_json()
    assert listed["totalResults"] == 1


def test_bulk_id_text_in_an_ordinary_string_is_stored_as_sent(scim: ScimClient) -> None:
    """RFC 7644 3.7.2 references go where a resource id belongs; other text is data."""
    ops = bulk(
        scim,
        post_user("u", "first@x.com"),
        post_user("v", "bulkId:u", nickName="see bulkId:u here"),
        post_user("w", "wiki@x.com", title="Ask about bulkId:123 in the wiki"),
    )
    assert [o["status"] for o in ops] == ["201", "201", "201"]
    second = scim.get(f"/Users/{ops[1]['location'].rsplit('/', 1)[1]}").get_json()
    assert (second["userName"], second["nickName"]) == ("bulkId:u", "see bulkId:u here")
    third = scim.get(f"/Users/{ops[2]['location'].rsplit('/', 1)[1]}").get_json()
    assert third["title"] == "Ask about bulkId:123 in the wiki"


def test_bulk_ids_in_patch_member_values_and_paths_are_resolved(scim: ScimClient) -> None:
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ops = bulk(
        scim,
        post_user("u", "member@x.com"),
        post_group("g", "Team", []),
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": {
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u"}]}],
            },
        },
        {
            "method": "PATCH",
            "path": "/Users/bulkId:u",
            "data": {
                "schemas": [PATCH],
                "Operations": [
                    {"op": "replace", "path": "nickName", "value": "bulkId:u"},
                    {"op": "add", "path": f"{ent}:manager.value", "value": "bulkId:u"},
                ],
            },
        },
    )
    assert [o["status"] for o in ops] == ["201", "201", "204", "200"], ops
    user_id = ops[0]["location"].rsplit("/", 1)[1]
    group_id = ops[1]["location"].rsplit("/", 1)[1]
    assert member_ids(scim, group_id) == {user_id}
    user = scim.get(f"/Users/{user_id}").get_json()
    assert user["nickName"] == "bulkId:u"
    assert user[ent]["manager"]["value"] == user_id


@pytest.mark.parametrize("version", [5, True, "", ['W/"1"'], {"v": 1}])
def test_a_version_that_is_not_an_etag_string_fails_the_operation(
    scim: ScimClient, version: Any
) -> None:
    """Ignored, it ran the operation unconditionally, which the client asked not to."""
    user = new_user(scim, "kept@x.com")
    ops = bulk(scim, {"method": "DELETE", "path": f"/Users/{user['id']}", "version": version})
    assert ops[0]["status"] == "400" and ops[0]["response"]["scimType"] == "invalidValue"
    assert "'version' must be an ETag string" in ops[0]["response"]["detail"]
    assert scim.get(f"/Users/{user['id']}").status_code == 200


def test_a_user_naming_itself_as_manager_fails_alone(scim: ScimClient) -> None:
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ops = bulk(
        scim,
        post_user("x", "x@x.com", schemas=[USER, ent], **{ent: {"manager": {"value": "bulkId:x"}}}),
        post_user("y", "y@x.com"),
    )
    assert [o["status"] for o in ops] == ["400", "201"]
    assert "its own bulkId 'x'" in ops[0]["response"]["detail"]


@pytest.mark.parametrize("bulk_id", [None, 5, "", ["u"]])
def test_a_post_without_a_string_bulk_id_fails_alone(scim: ScimClient, bulk_id: Any) -> None:
    """RFC 7644 3.7: bulkId is REQUIRED for POST (the response names the op by it)."""
    op = post_user("x", "nobulkid@x.com")
    if bulk_id is None:
        del op["bulkId"]
    else:
        op["bulkId"] = bulk_id
    ops = bulk(scim, op, post_user("y", "other@x.com"))
    assert [o["status"] for o in ops] == ["400", "201"]
    assert ops[0]["response"]["scimType"] == "invalidValue"
    assert "needs 'bulkId'" in ops[0]["response"]["detail"]
    assert scim.get('/Users?filter=userName eq "nobulkid@x.com"').get_json()["totalResults"] == 0
