"""Index paging (RFC 7644 3.4.2.4) and cursor paging (RFC 9865, only when advertised)."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..model import area
from ._data import LABELS, filter_users, label_of, prefix

check = area("paging")
P = "RFC 7644 3.4.2.4"
N = len(LABELS)


def _page(ctx: Context, **params: Any) -> tuple[list[str], dict[str, Any]]:
    users = filter_users(ctx)
    resources, data, ex = ctx.search("/Users", f'userName sw "{prefix(ctx)}"', **params)
    ctx.focus = ex
    return [label_of(users, r.get("id")) for r in resources], data


@check(
    "paging.first-page",
    "startIndex=1&count=2 returns 2 resources and the total",
    P,
    f"totalResults {N}, itemsPerPage 2, startIndex 1, 2 Resources",
)
def first_page(ctx: Context) -> None:
    got, data = _page(ctx, startIndex=1, count=2)
    ctx.expect(
        data["totalResults"] == N
        and data.get("itemsPerPage") == 2
        and data.get("startIndex") == 1
        and len(got) == 2,
        f"totalResults {data['totalResults']}, itemsPerPage {data.get('itemsPerPage')}, "
        f"startIndex {data.get('startIndex')}, {len(got)} Resources",
    )


@check(
    "paging.walk",
    "Walking pages of 2 visits every resource exactly once",
    P,
    f"the {N} run users, none twice, totalResults constant",
)
def walk(ctx: Context) -> None:
    seen: list[str] = []
    for start in range(1, N + 1, 2):
        got, data = _page(ctx, startIndex=start, count=2)
        ctx.expect(data["totalResults"] == N, f"totalResults {data['totalResults']} at {start}")
        ctx.expect(data.get("startIndex") == start, f"startIndex echoed {data.get('startIndex')}")
        seen += got
    ctx.expect(sorted(seen) == sorted(LABELS), f"visited {seen}")


@check(
    "paging.count-zero",
    "count=0 returns only totalResults",
    P,
    f"totalResults {N} and no Resources",
)
def count_zero(ctx: Context) -> None:
    got, data = _page(ctx, count=0)
    ctx.expect(data["totalResults"] == N and not got, f"totalResults {data['totalResults']}, {got}")


@check(
    "paging.beyond-end",
    "startIndex past the end returns an empty page with the total",
    P,
    f"totalResults {N} and no Resources",
)
def beyond_end(ctx: Context) -> None:
    got, data = _page(ctx, startIndex=N + 10, count=5)
    ctx.expect(data["totalResults"] == N and not got, f"totalResults {data['totalResults']}, {got}")


@check(
    "paging.start-below-one",
    "startIndex < 1 is interpreted as 1",
    P,
    "the same first resource as startIndex=1",
)
def start_below_one(ctx: Context) -> None:
    first, _ = _page(ctx, startIndex=1, count=1)
    zero, _ = _page(ctx, startIndex=0, count=1)
    ctx.expect(zero == first, f"startIndex=0 gave {zero}, startIndex=1 gave {first}")


@check(
    "paging.cursor-walk",
    "Cursor paging: cursor= then nextCursor visits every resource once",
    "RFC 9865 2",
    f"the {N} run users over pages of 2, each page with nextCursor until the last",
)
def cursor_walk(ctx: Context) -> None:
    ctx.require_feature("pagination", "cursor")
    seen: list[str] = []
    cursor = ""
    for _ in range(N + 2):
        got, data = _page(ctx, count=2, cursor=cursor)
        seen += got
        next_cursor = data.get("nextCursor")
        if not next_cursor:
            break
        ctx.expect(isinstance(next_cursor, str), f"nextCursor {next_cursor!r}")
        cursor = next_cursor
    ctx.expect(sorted(seen) == sorted(LABELS), f"visited {seen}")


@check(
    "paging.cursor-invalid",
    "An unknown cursor is a 400 invalidCursor error",
    "RFC 9865 2; RFC 7644 3.12",
    "HTTP 400 scimType invalidCursor",
)
def cursor_invalid(ctx: Context) -> None:
    ctx.require_feature("pagination", "cursor")
    ex = ctx.get("/Users", {"count": 2, "cursor": "not-a-real-cursor-" + ctx.run_id})
    ctx.error(ex, 400, "invalidCursor")
