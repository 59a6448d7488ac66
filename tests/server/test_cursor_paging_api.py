"""Cursor pagination (RFC 9865) over HTTP."""

from __future__ import annotations

from typing import Any

from tests.conftest import ScimClient
from tests.server.test_users_api import assert_error, new_user


def walk(scim: ScimClient, query: str, count: int = 3) -> tuple[list[dict[str, Any]], list[Any]]:
    pages: list[Any] = []
    users: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(20):
        body = scim.get(f"/Users?{query}&count={count}&cursor={cursor}").get_json()
        pages.append(body)
        users += body["Resources"]
        if "nextCursor" not in body:
            break
        cursor = body["nextCursor"]
    return users, pages


def test_cursor_pages_cover_every_user_once_and_the_last_has_no_next(scim: ScimClient) -> None:
    ids = {new_user(scim, f"c{i}@x.com")["id"] for i in range(7)}
    users, pages = walk(scim, "")
    assert [len(p["Resources"]) for p in pages] == [3, 3, 1]
    assert {u["id"] for u in users} == ids and len(users) == 7
    assert all(p["totalResults"] == 7 and "startIndex" not in p for p in pages)
    assert "nextCursor" not in pages[-1]


def test_cursor_paging_follows_sort_and_filter(scim: ScimClient) -> None:
    for name in ("b@x.com", "A@x.com", "d@x.com", "C@x.com", "e@y.com"):
        new_user(scim, name)
    users, _ = walk(scim, 'filter=userName co "@x.com"&sortBy=userName&sortOrder=descending', 2)
    assert [u["userName"] for u in users] == ["d@x.com", "C@x.com", "b@x.com", "A@x.com"]


def test_cursor_pages_are_stable_under_concurrent_inserts(scim: ScimClient) -> None:
    for name in ("b", "d", "f", "h"):
        new_user(scim, f"{name}@x.com")
    first = scim.get("/Users?sortBy=userName&count=2&cursor=").get_json()
    assert [u["userName"] for u in first["Resources"]] == ["b@x.com", "d@x.com"]
    new_user(scim, "a@x.com")  # sorts before the cursor: must not shift later pages
    new_user(scim, "e@x.com")  # sorts after it: must appear
    rest = scim.get(f"/Users?sortBy=userName&count=10&cursor={first['nextCursor']}").get_json()
    assert [u["userName"] for u in rest["Resources"]] == ["e@x.com", "f@x.com", "h@x.com"]


def test_search_request_accepts_a_cursor(scim: ScimClient) -> None:
    for i in range(3):
        new_user(scim, f"s{i}@x.com")
    body = scim.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "cursor": "",
            "count": 2,
        },
    ).get_json()
    assert len(body["Resources"]) == 2 and body["nextCursor"]


def test_garbage_cursor_is_400_invalid_cursor(scim: ScimClient) -> None:
    assert_error(scim.get("/Users?cursor=not-a-cursor"), 400, "invalidCursor")


def test_cursor_from_another_query_is_400_invalid_cursor(scim: ScimClient) -> None:
    for i in range(3):
        new_user(scim, f"q{i}@x.com")
    cursor = scim.get("/Users?count=1&cursor=").get_json()["nextCursor"]
    assert_error(scim.get(f"/Users?count=1&sortBy=userName&cursor={cursor}"), 400, "invalidCursor")


def test_cursor_and_start_index_together_is_400(scim: ScimClient) -> None:
    assert_error(scim.get("/Users?cursor=&startIndex=2"), 400, "invalidValue")


def test_service_provider_config_advertises_cursor_and_index_paging(scim: ScimClient) -> None:
    pagination = scim.get("/ServiceProviderConfig").get_json()["pagination"]
    assert pagination["cursor"] is True and pagination["index"] is True
    assert pagination["defaultPaginationMethod"] == "index"
