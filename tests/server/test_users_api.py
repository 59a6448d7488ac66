"""Users over HTTP through the Flask app: the behaviour an IdP sees (RFC 7644 3)."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.pagination import MAX_START_INDEX
from tests.conftest import ScimClient

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def new_user(scim: ScimClient, user_name: str = "bjensen@example.com", **attrs: Any) -> Any:
    body = {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        **attrs,
    }
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type
    return body


def test_create_returns_201_with_location_etag_and_no_password(scim: ScimClient) -> None:
    response = scim.post("/Users", {"schemas": [USER], "userName": "alice", "password": "s3cret!"})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].startswith("https://scim.example.com/scim/v2/organizations/")
    assert response.headers["ETag"] == body["meta"]["version"]
    assert "password" not in body
    assert body["meta"]["resourceType"] == "User" and body["meta"]["created"]
    assert response.mimetype == "application/scim+json"


def test_application_json_requests_are_accepted(scim: ScimClient) -> None:
    response = scim.post(
        "/Users", {"schemas": [USER], "userName": "okta"}, content_type="application/json"
    )
    assert response.status_code == 201


def test_get_by_id_returns_the_stored_user(scim: ScimClient) -> None:
    created = new_user(scim)
    got = scim.get(f"/Users/{created['id']}").get_json()
    assert got["userName"] == "bjensen@example.com" and got["name"]["givenName"] == "Barbara"
    assert got.get("groups", []) == []


def test_duplicate_user_name_differing_in_case_is_409_uniqueness(scim: ScimClient) -> None:
    new_user(scim, "Dup@Example.com")
    assert_error(
        scim.post("/Users", {"schemas": [USER], "userName": "dup@example.COM"}), 409, "uniqueness"
    )


def test_same_user_name_in_two_organizations_is_allowed(app: Any, scim: ScimClient) -> None:
    from tests.conftest import new_org

    slug, token = new_org(app)
    other = ScimClient(app.test_client(), slug, token)
    new_user(scim, "shared@example.com")
    new_user(other, "shared@example.com")


def test_filter_user_name_eq_is_case_insensitive(scim: ScimClient) -> None:
    new_user(scim, "Case.Test@example.com")
    body = scim.get('/Users?filter=userName eq "CASE.TEST@EXAMPLE.COM"').get_json()
    assert body["totalResults"] == 1


def test_filter_with_no_match_is_an_empty_list_response(scim: ScimClient) -> None:
    body = scim.get('/Users?filter=userName eq "nobody"&startIndex=1&count=100').get_json()
    assert body == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_bad_filter_is_400_invalid_filter_with_detail(scim: ScimClient) -> None:
    body = assert_error(scim.get("/Users?filter=userName eq"), 400, "invalidFilter")
    assert "userName" in body["detail"] or "end" in body["detail"].lower()


def test_filter_on_unknown_attribute_is_invalid_filter(scim: ScimClient) -> None:
    assert_error(scim.get('/Users?filter=shoeSize eq "9"'), 400, "invalidFilter")


def test_paging_is_stable_and_total_is_correct(scim: ScimClient) -> None:
    ids = {new_user(scim, f"page{i}@example.com")["id"] for i in range(5)}
    seen: list[str] = []
    for start in (1, 3, 5):
        body = scim.get(f"/Users?startIndex={start}&count=2").get_json()
        assert body["totalResults"] == 5 and body["startIndex"] == start
        seen += [r["id"] for r in body["Resources"]]
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_count_zero_returns_only_the_total(scim: ScimClient) -> None:
    new_user(scim)
    body = scim.get("/Users?count=0").get_json()
    assert body["totalResults"] == 1 and body["Resources"] == [] and body["itemsPerPage"] == 0


def test_count_is_capped_at_the_advertised_maximum(scim: ScimClient) -> None:
    spc = scim.get("/ServiceProviderConfig").get_json()
    assert spc["filter"]["maxResults"] == 50
    for i in range(3):
        new_user(scim, f"cap{i}@example.com")
    assert scim.get("/Users?count=100000").get_json()["itemsPerPage"] == 3


def test_sort_by_user_name_descending(scim: ScimClient) -> None:
    for name in ("b@x.com", "a@x.com", "C@x.com"):
        new_user(scim, name)
    body = scim.get("/Users?sortBy=userName&sortOrder=descending").get_json()
    assert [r["userName"] for r in body["Resources"]] == ["C@x.com", "b@x.com", "a@x.com"]


def test_attributes_parameter_limits_the_response(scim: ScimClient) -> None:
    created = new_user(scim)
    got = scim.get(f"/Users/{created['id']}?attributes=userName").get_json()
    assert set(got) == {"schemas", "id", "userName"}


def test_put_replaces_the_user_and_bumps_version(scim: ScimClient) -> None:
    created = new_user(scim, title="Engineer")
    body = {
        "schemas": [USER],
        "id": created["id"],
        "userName": "bjensen@example.com",
        "name": {"givenName": "Babs", "familyName": "Jensen", "middleName": "J"},
        "active": True,
        "meta": {"resourceType": "User"},
    }
    response = scim.put(f"/Users/{created['id']}", body)
    assert response.status_code == 200
    got = response.get_json()
    assert got["name"]["givenName"] == "Babs" and "title" not in got
    assert got["meta"]["version"] != created["meta"]["version"]
    assert got["meta"]["created"] == created["meta"]["created"]


def test_patch_deactivate_keeps_user_readable_and_findable(scim: ScimClient) -> None:
    created = new_user(scim)
    response = scim.patch(
        f"/Users/{created['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert scim.get(f"/Users/{created['id']}").get_json()["active"] is False
    listed = scim.get('/Users?filter=userName eq "bjensen@example.com"').get_json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["active"] is False


def test_patch_that_fails_changes_nothing(scim: ScimClient) -> None:
    created = new_user(scim)
    response = scim.patch(
        f"/Users/{created['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "noSuchAttribute", "value": "x"},
            ],
        },
    )
    assert response.status_code == 400
    assert "displayName" not in scim.get(f"/Users/{created['id']}").get_json()


def test_delete_then_every_operation_is_404(scim: ScimClient) -> None:
    created = new_user(scim)
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert_error(scim.get(f"/Users/{created['id']}"), 404)
    assert_error(scim.delete(f"/Users/{created['id']}"), 404)
    assert (
        scim.get('/Users?filter=userName eq "bjensen@example.com"').get_json()["totalResults"] == 0
    )


def test_unknown_id_is_404_scim_error(scim: ScimClient) -> None:
    assert_error(scim.get("/Users/010101001010101011001010101011"), 404)


def test_malformed_json_is_400_invalid_syntax(scim: ScimClient) -> None:
    assert_error(scim.post("/Users", raw=b'{"schemas": ['), 400, "invalidSyntax")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_does_not_have_are_400_invalid_syntax(scim: ScimClient, number: str) -> None:
    body = f'{{"schemas": ["{USER}"], "userName": "n", "x509Certificates": {number}}}'
    response = scim.post("/Users", raw=body.encode())
    assert_error(response, 400, "invalidSyntax")
    assert number.lstrip("-") in response.get_json()["detail"]


def test_missing_schemas_is_400(scim: ScimClient) -> None:
    assert_error(scim.post("/Users", {"userName": "x"}), 400, "invalidSyntax")


def test_wrong_type_is_400_invalid_value(scim: ScimClient) -> None:
    assert_error(
        scim.post("/Users", {"schemas": [USER], "userName": "x", "active": 7}), 400, "invalidValue"
    )


def test_body_over_the_limit_is_413(scim: ScimClient) -> None:
    big = {"schemas": [USER], "userName": "big", "displayName": "x" * (1024 * 1024 + 10)}
    assert_error(scim.post("/Users", big), 413)


def test_unsupported_method_is_405_with_allow(scim: ScimClient) -> None:
    response = scim.delete("/Users")
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_non_json_content_type_is_415(scim: ScimClient) -> None:
    assert_error(scim.post("/Users", raw=b"<user/>", content_type="application/xml"), 415)


def test_enterprise_extension_round_trips_and_filters(scim: ScimClient) -> None:
    new_user(
        scim,
        "emp@example.com",
        schemas=[USER, ENTERPRISE],
        **{ENTERPRISE: {"employeeNumber": "701984", "department": "営業部"}},
    )
    body = scim.get(f'/Users?filter={ENTERPRISE}:department eq "営業部"').get_json()
    assert body["totalResults"] == 1
    assert body["Resources"][0][ENTERPRISE]["employeeNumber"] == "701984"


def test_search_endpoint_accepts_a_search_request(scim: ScimClient) -> None:
    new_user(scim)
    response = scim.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails.value co "bjensen"',
            "attributes": ["userName"],
            "count": 10,
        },
    )
    body = response.get_json()
    assert response.status_code == 200 and body["totalResults"] == 1
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}


def test_start_index_far_beyond_the_end_is_an_empty_page(scim: ScimClient) -> None:
    new_user(scim)
    body = scim.get(f"/Users?startIndex={2**64}&count={2**64}").get_json()
    assert body["totalResults"] == 1 and body["Resources"] == []
    assert body["startIndex"] == MAX_START_INDEX, "the index used, not an unbounded echo"


@pytest.mark.parametrize("blank", [" ", "   ", "\t", "\u3000"])
def test_a_blank_user_name_is_invalid_value_on_post_put_and_patch(
    scim: ScimClient, blank: str
) -> None:
    error = assert_error(scim.post("/Users", {"schemas": [USER], "userName": blank}), 400)
    assert error["scimType"] == "invalidValue" and "blank" in error["detail"], error
    user = new_user(scim)
    put = scim.put(f"/Users/{user['id']}", {"schemas": [USER], "userName": blank})
    assert_error(put, 400, "invalidValue")
    patch = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "userName", "value": blank}],
    }
    assert_error(scim.patch(f"/Users/{user['id']}", patch), 400, "invalidValue")
    assert scim.get(f"/Users/{user['id']}").get_json()["userName"] == user["userName"]


def test_a_blank_group_name_is_invalid_value(scim: ScimClient) -> None:
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "  "}
    error = assert_error(scim.post("/Groups", group), 400, "invalidValue")
    assert "displayName" in error["detail"], error
