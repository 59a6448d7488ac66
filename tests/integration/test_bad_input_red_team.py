"""A second attack run's findings, over HTTP: requests that meant something other than
what the service did with them are refused with a SCIM 400 naming the problem.

Bodies a JSON encoder would not write (a key twice) are sent as raw text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from scimcore.pagination import MAX_START_INDEX

from .conftest import LiveServer, Org
from .support import (
    GROUP_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_SCHEMA,
    ScimSession,
    assert_list_response,
    assert_resource,
    assert_scim_error,
    raw_request,
    unique,
)

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture(scope="module")
def org(live_server: LiveServer) -> Org:
    return live_server.create_org("red-team")


@pytest.fixture
def scim(live_server: LiveServer, org: Org) -> Iterator[ScimSession]:
    with live_server.session(org, content_type="application/scim+json") as session:
        yield session


def new_user(scim: ScimSession, **attrs: Any) -> dict[str, Any]:
    body = {"schemas": [USER_SCHEMA], "userName": unique("red-team-"), **attrs}
    return assert_resource(scim.post("/Users", json=body), 201)


def count_named(scim: ScimSession, name: str) -> int:
    found = scim.get("/Users", params={"filter": f'userName eq "{name}"'})
    return int(assert_list_response(found)["totalResults"])


# -- 1. a key twice in one JSON object -------------------------------------------------


@pytest.mark.parametrize("second", ["userName", "USERNAME"])
def test_a_post_naming_an_attribute_twice_is_refused(scim: ScimSession, second: str) -> None:
    first, last = unique("dup-a-"), unique("dup-b-")
    body = f'{{"schemas": ["{USER_SCHEMA}"], "userName": "{first}", "{second}": "{last}"}}'
    error = assert_scim_error(scim.post("/Users", data=body), 400, "invalidSyntax")
    assert f"'{second}' appears twice" in error["detail"], error
    assert count_named(scim, first) == 0 and count_named(scim, last) == 0


def test_a_patch_with_two_operation_lists_or_two_values_is_refused(scim: ScimSession) -> None:
    user = new_user(scim, nickName="before")
    two_lists = (
        f'{{"schemas": ["{PATCH_OP_SCHEMA}"],'
        ' "Operations": [{"op": "replace", "path": "nickName", "value": "A"}],'
        ' "operations": [{"op": "replace", "path": "nickName", "value": "B"}]}'
    )
    two_values = (
        f'{{"schemas": ["{PATCH_OP_SCHEMA}"], "Operations": [{{"op": "replace",'
        ' "path": "nickName", "value": "C", "value": "D", "OP": "remove"}]}'
    )
    for body, key in ((two_lists, "operations"), (two_values, "value")):
        error = assert_scim_error(
            scim.patch(f"/Users/{user['id']}", data=body), 400, "invalidSyntax"
        )
        assert f"'{key}' appears twice" in error["detail"], error
    got = assert_resource(scim.get(f"/Users/{user['id']}"), 200)
    assert got["nickName"] == "before" and got["meta"]["version"] == user["meta"]["version"]


def test_a_bulk_operation_naming_a_key_twice_refuses_the_request(scim: ScimSession) -> None:
    name = unique("dup-bulk-")
    body = (
        f'{{"schemas": ["{BULK}"], "Operations": [{{"method": "POST", "path": "/Users",'
        f' "bulkId": "u", "data": {{"schemas": ["{USER_SCHEMA}"], "userName": "{name}"}},'
        ' "Method": "DELETE"}]}'
    )
    error = assert_scim_error(scim.post("/Bulk", data=body), 400, "invalidSyntax")
    assert "'Method' appears twice" in error["detail"], error
    assert count_named(scim, name) == 0


def test_the_same_attribute_in_different_objects_is_accepted(scim: ScimSession) -> None:
    user = new_user(
        scim,
        emails=[{"value": "a@example.com", "type": "work"}, {"value": "b@example.com"}],
        name={"givenName": "A", "familyName": "B"},
    )
    assert [e["value"] for e in user["emails"]] == ["a@example.com", "b@example.com"]
    assert json.dumps(user)  # the round trip is plain JSON


# -- 4. a group among its own members ----------------------------------------------------


def test_a_group_cannot_be_added_to_its_own_members(scim: ScimSession) -> None:
    created = scim.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": unique("g-")})
    group = assert_resource(created, 201, schema=GROUP_SCHEMA)
    patch = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": group["id"]}]}],
    }
    error = assert_scim_error(scim.patch(f"/Groups/{group['id']}", json=patch), 400, "invalidValue")
    assert "member of itself" in error["detail"], error
    put = {
        "schemas": [GROUP_SCHEMA],
        "displayName": group["displayName"],
        "members": [{"value": group["id"]}],
    }
    error = assert_scim_error(scim.put(f"/Groups/{group['id']}", json=put), 400, "invalidValue")
    assert "member of itself" in error["detail"], error
    got = assert_resource(scim.get(f"/Groups/{group['id']}"), 200, schema=GROUP_SCHEMA)
    assert not got.get("members") and got["meta"]["version"] == group["meta"]["version"]


# -- 5. errors name SCIM attributes, not the validator's internals ----------------------


@pytest.mark.parametrize(
    ("attrs", "detail"),
    [
        ({"name": "Bob"}, "'name' must be a JSON object with sub-attributes ("),
        ({"emails": ["a@b"]}, "'emails[0]' must be a JSON object with sub-attributes (value,"),
    ],
)
def test_a_string_for_a_complex_attribute_is_refused_in_scim_terms(
    scim: ScimSession, attrs: dict[str, Any], detail: str
) -> None:
    body = {"schemas": [USER_SCHEMA], "userName": unique("typed-"), **attrs}
    error = assert_scim_error(scim.post("/Users", json=body), 400, "invalidValue")
    assert error["detail"].startswith(detail) and "_schema" not in error["detail"], error


# -- 7. paging parameters and SearchRequests ---------------------------------------------


@pytest.mark.parametrize("raw", ["%D9%A1", "%EF%BC%91"])  # Arabic-Indic one, fullwidth one
def test_paging_digits_other_than_ascii_are_invalid_value(scim: ScimSession, raw: str) -> None:
    for name in ("count", "startIndex"):
        response = raw_request(
            scim.url("/Users"), f"{name}={raw}", {"Authorization": scim.headers["Authorization"]}
        )
        error = assert_scim_error(response, 400, "invalidValue")
        assert "ASCII digits" in error["detail"], error


def test_a_huge_start_index_is_an_empty_page_at_the_maximum_index(scim: ScimSession) -> None:
    listed = assert_list_response(scim.get("/Users", params={"startIndex": "9" * 23}))
    assert listed["Resources"] == [] and listed["startIndex"] == MAX_START_INDEX


@pytest.mark.parametrize("path", ["/.search", "/Users/.search"])
@pytest.mark.parametrize(
    "field",
    [{"startIndex": "1"}, {"count": "5"}, {"attributes": [1]}, {"attributes": [["userName"]]}],
)
def test_search_request_fields_of_the_wrong_json_type_are_refused(
    scim: ScimSession, path: str, field: dict[str, Any]
) -> None:
    body = {"schemas": [SEARCH], **field}
    error = assert_scim_error(scim.post(path, json=body), 400, "invalidValue")
    assert next(iter(field)) in error["detail"], error


def test_a_put_with_if_none_match_star_on_an_existing_user_is_412(scim: ScimSession) -> None:
    user = new_user(scim, nickName="before")
    body = {"schemas": [USER_SCHEMA], "userName": user["userName"], "nickName": "after"}
    response = scim.put(f"/Users/{user['id']}", json=body, headers={"If-None-Match": "*"})
    assert_scim_error(response, 412)
    assert assert_resource(scim.get(f"/Users/{user['id']}"), 200)["nickName"] == "before"


# -- 7. media types: what the service reads is what was sent ------------------------------


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-Type": "application/json; charset=shift_jis"}, "charset 'shift_jis'"),
        ({"Content-Type": "application/scim+json; charset=utf-16"}, "charset 'utf-16'"),
        ({"Content-Type": "application/merge-patch+json"}, "'application/merge-patch+json'"),
        (
            {"Content-Type": "application/scim+json", "Content-Encoding": "gzip"},
            "Content-Encoding 'gzip'",
        ),
    ],
)
def test_a_body_the_service_would_misread_is_415(
    scim: ScimSession, headers: dict[str, str], named: str
) -> None:
    name = unique("media-")
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": name}).encode()
    error = assert_scim_error(scim.post("/Users", data=body, headers=headers), 415)
    assert named in error["detail"], error
    assert count_named(scim, name) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        'application/scim+json; charset="UTF-8"',
        "application/json",
    ],
)
def test_json_in_utf8_is_accepted_with_or_without_a_charset(
    scim: ScimSession, content_type: str
) -> None:
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": unique("utf8-")}).encode()
    created = scim.post("/Users", data=body, headers={"Content-Type": content_type})
    assert_resource(created, 201)
