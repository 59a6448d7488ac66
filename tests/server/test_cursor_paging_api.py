"""Cursor pagination (RFC 9865) over HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from scimcore.pagination import query_fingerprint
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


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize(
    "sort_by",
    [
        "active",
        "emails.primary",
        "userName",
        "displayName",
        "meta.created",
        "title",
        "name.givenName",
        f"{ENTERPRISE}:department",
    ],
)
def test_cursor_pages_of_every_sort_key_type_cover_every_user_once(
    scim: ScimClient, sort_by: str, order: str
) -> None:
    """A descending walk by a boolean (``active``) answered 500 on its second page:
    the query builder refused '<' with True or False."""
    ids = set()
    for i in range(7):
        extra: dict[str, Any] = {
            "active": i % 2 == 0,
            "emails": [{"value": f"e{i}@x.com", "primary": i % 3 == 0}],
            "name": {"givenName": f"G{i % 3}"},
            ENTERPRISE: {"department": f"d{i % 2}"},
        }
        if i % 2:
            extra["title"] = f"t{i}"
            extra["displayName"] = f"D{i % 3}"
        ids.add(new_user(scim, f"s{i}@x.com", **extra)["id"])
    users, pages = walk(scim, f"sortBy={sort_by}&sortOrder={order}", 2)
    assert len(users) == 7 and {u["id"] for u in users} == ids, pages


@pytest.mark.parametrize(
    ("sort_by", "key"),
    [("userName", 12345), ("userName", True), ("active", "x"), ("active", 1), ("", "a")],
)
def test_a_cursor_whose_key_cannot_come_from_the_sort_is_invalid(
    scim: ScimClient, sort_by: str, key: Any
) -> None:
    """PostgreSQL refused to compare the column with such a key: 500 before."""
    new_user(scim)
    fingerprint = query_fingerprint("User", None, sort_by or None, "ascending")
    raw = json.dumps([key, "00000000-0000-0000-0000-000000000000", fingerprint])
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    query = f"/Users?cursor={cursor}" + (f"&sortBy={sort_by}" if sort_by else "")
    assert_error(scim.get(query), 400, "invalidCursor")
