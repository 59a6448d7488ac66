"""Uniqueness of userName: RFC 7643 4.1.1 (unique, case-insensitive), RFC 7644 3.3 (409)."""

from __future__ import annotations

from typing import Any

from ..context import USER, Context
from ..model import area

check = area("uniqueness")


def _original(ctx: Context) -> dict[str, Any]:
    user: dict[str, Any] = ctx.fixture("unique-user", lambda c: c.new_user("uniq-Taken"))
    return user


@check(
    "uniqueness.duplicate-username",
    "Creating a second user with the same userName is a 409 uniqueness error",
    "RFC 7644 3.3; RFC 7644 3.12",
    "HTTP 409 scimType uniqueness",
)
def duplicate(ctx: Context) -> None:
    user = _original(ctx)
    ex = ctx.post("/Users", {"schemas": [USER], "userName": user["userName"]})
    ctx.discard(ex)
    ctx.error(ex, 409, "uniqueness")


@check(
    "uniqueness.case-variant",
    "userName is caseExact=false: a case variant of a taken userName is a 409",
    "RFC 7643 4.1.1; RFC 7643 2.2; RFC 7644 3.12",
    "HTTP 409 scimType uniqueness for the upper-cased userName",
)
def case_variant(ctx: Context) -> None:
    user = _original(ctx)
    ex = ctx.post("/Users", {"schemas": [USER], "userName": str(user["userName"]).upper()})
    ctx.discard(ex)
    ctx.error(ex, 409, "uniqueness")


@check(
    "uniqueness.put-conflict",
    "Renaming a user onto a taken userName with PUT is a 409",
    "RFC 7644 3.5.1; RFC 7644 3.12",
    "HTTP 409 scimType uniqueness",
)
def put_conflict(ctx: Context) -> None:
    user = _original(ctx)
    other = ctx.new_user("uniq-other")
    ex = ctx.put(f"/Users/{other['id']}", {"schemas": [USER], "userName": user["userName"]})
    ctx.error(ex, 409, "uniqueness")
