"""Sorting: RFC 7644 3.4.2.3 (sortBy, sortOrder), only when sort.supported is advertised."""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..model import area
from ._data import LABELS, filter_users, label_of, prefix

check = area("sorting")
S = "RFC 7644 3.4.2.3"


def _sorted_labels(ctx: Context, **params: Any) -> list[str]:
    users = filter_users(ctx)
    params.setdefault("count", 50)
    resources, _, ex = ctx.search("/Users", f'userName sw "{prefix(ctx)}"', **params)
    ctx.focus = ex
    return [label_of(users, r.get("id")) for r in resources]


@check(
    "sort.ascending",
    "sortBy=userName sorts ascending by default",
    S,
    'alpha, beta, gamma, lit, pct, q"uote',
)
def ascending(ctx: Context) -> None:
    ctx.require_feature("sort", "supported")
    got = _sorted_labels(ctx, sortBy="userName")
    ctx.expect(got == list(LABELS), f"order {got}")


@check(
    "sort.descending",
    "sortOrder=descending reverses the order",
    S,
    'q"uote, pct, lit, gamma, beta, alpha',
)
def descending(ctx: Context) -> None:
    ctx.require_feature("sort", "supported")
    got = _sorted_labels(ctx, sortBy="userName", sortOrder="descending")
    ctx.expect(got == list(reversed(LABELS)), f"order {got}")


@check(
    "sort.stable-paged",
    "Sorting on a tied attribute is consistent across pages and repeated requests",
    S + "; RFC 7644 3.4.2.4",
    "userType non-decreasing; pages of 2 concatenate to the full sorted list with no repeats",
)
def stable(ctx: Context) -> None:
    ctx.require_feature("sort", "supported")
    users = filter_users(ctx)
    full = _sorted_labels(ctx, sortBy="userType")
    again = _sorted_labels(ctx, sortBy="userType")
    ctx.expect(full == again, f"two identical requests gave {full} and {again}")
    types = [str(users[label].get("userType")) for label in full]
    ctx.expect(types == sorted(types, key=str.lower), f"userType order {types}")
    paged: list[str] = []
    for start in (1, 3, 5):
        paged += _sorted_labels(ctx, sortBy="userType", startIndex=start, count=2)
    ctx.expect(paged == full, f"pages gave {paged}, the full list {full}")
