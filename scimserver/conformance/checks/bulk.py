"""Bulk: RFC 7644 3.7 (bulkId 3.7.2, failOnErrors 3.7.3, maxOperations 3.7.4), when the
ServiceProviderConfig advertises ``bulk.supported``."""

from __future__ import annotations

from typing import Any

from ..context import BULK_REQUEST, BULK_RESPONSE, GROUP, USER, Context
from ..model import area

check = area("bulk")
MAX_OPERATIONS_TESTED = 2000


def _bulk(ctx: Context, operations: list[dict[str, Any]], **extra: Any) -> Any:
    body = {"schemas": [BULK_REQUEST], "Operations": operations, **extra}
    ex = ctx.post("/Bulk", body)
    data = ex.json()
    if isinstance(data, dict):
        for op in data.get("Operations") or []:
            location = (op or {}).get("location")
            if str((op or {}).get("status")) == "201" and isinstance(location, str):
                endpoint = "/Groups" if "/Groups/" in location else "/Users"
                ctx.track(endpoint, location.rstrip("/").rsplit("/", 1)[-1])
    return ex


@check(
    "bulk.bulkid",
    "A group references a user created in the same request by bulkId",
    "RFC 7644 3.7; RFC 7644 3.7.2",
    "200 BulkResponse; both operations 201; the group's member is the new user's id",
)
def bulk_id(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    ops = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "u1",
            "data": {"schemas": [USER], "userName": ctx.name("bulk-u1")},
        },
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g1",
            "data": {
                "schemas": [GROUP],
                "displayName": ctx.name("bulk-g1"),
                "members": [{"type": "User", "value": "bulkId:u1"}],
            },
        },
    ]
    ex = _bulk(ctx, ops)
    data = ctx.body(ex, 200)
    ctx.expect(BULK_RESPONSE in (data.get("schemas") or []), f"schemas {data.get('schemas')!r}")
    results = {op.get("bulkId"): op for op in data.get("Operations") or []}
    ctx.expect(
        all(str((results.get(b) or {}).get("status")) == "201" for b in ("u1", "g1")),
        f"operations {data.get('Operations')!r}"[:600],
    )
    user_id = str(results["u1"]["location"]).rstrip("/").rsplit("/", 1)[-1]
    group_id = str(results["g1"]["location"]).rstrip("/").rsplit("/", 1)[-1]
    group = ctx.resource(ctx.get(f"/Groups/{group_id}"), 200, schema=GROUP)
    members = {m.get("value") for m in group.get("members") or []}
    ctx.expect(members == {user_id}, f"members {group.get('members')!r}, user {user_id}")
    ctx.focus = ex


@check(
    "bulk.fail-on-errors",
    "failOnErrors=1 stops processing after the first failed operation",
    "RFC 7644 3.7.3",
    "200 BulkResponse reporting the 400; the later valid operation is not performed",
)
def fail_on_errors(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    later = ctx.name("bulk-later")
    ops = [
        {"method": "POST", "path": "/Users", "bulkId": "bad1", "data": {"schemas": [USER]}},
        {"method": "POST", "path": "/Users", "bulkId": "bad2", "data": {"schemas": [USER]}},
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "ok",
            "data": {"schemas": [USER], "userName": later},
        },
    ]
    ex = _bulk(ctx, ops, failOnErrors=1)
    data = ctx.body(ex, 200)
    statuses = [str(op.get("status")) for op in data.get("Operations") or []]
    ctx.expect(bool(statuses) and statuses[0].startswith("4"), f"statuses {statuses}")
    ctx.expect("201" not in statuses, f"a later operation ran: statuses {statuses}")
    _, found, _ = ctx.search("/Users", f'userName eq "{later}"')
    ctx.expect(found["totalResults"] == 0, "the operation after the failure was performed")
    ctx.focus = ex


@check(
    "bulk.max-operations",
    "More than maxOperations operations is a 413",
    "RFC 7644 3.7.4",
    "HTTP 413 with a SCIM Error",
)
def max_operations(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    limit = ctx.feature("bulk", "maxOperations")
    if not isinstance(limit, int) or limit <= 0:
        raise ctx.fail(f"bulk.maxOperations is {limit!r}", "a positive integer (RFC 7643 5)")
    if limit >= MAX_OPERATIONS_TESTED:
        from ..model import CheckSkipped

        raise CheckSkipped(f"maxOperations {limit} is too large to exceed reasonably")
    ops = [
        {"method": "DELETE", "path": f"/Users/{ctx.name(f'bulk-none-{i}')}"}
        for i in range(limit + 1)
    ]
    ex = _bulk(ctx, ops)
    ctx.error(ex, 413)
