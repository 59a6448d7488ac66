"""Bulk: RFC 7644 3.7 (circular references 3.7.1, bulkId 3.7.2, failOnErrors 3.7.3,
maxOperations and maxPayloadSize 3.7.4), when the ServiceProviderConfig advertises
``bulk.supported``.

Every resource a Bulk operation reports as created (``201`` with a ``location``) is
registered for the run's cleanup; the failing operations are built so that a server that
wrongly performs them creates nothing (invalid users) or touches nothing (DELETE of ids
that do not exist).
"""

from __future__ import annotations

import json
from typing import Any

from ..context import BULK_REQUEST, BULK_RESPONSE, GROUP, USER, Context
from ..http import Exchange
from ..model import CheckSkipped, area

check = area("bulk")
MAX_OPERATIONS_TESTED = 2000
MAX_PAYLOAD_TESTED = 16 * 1024 * 1024


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
        raise CheckSkipped(f"maxOperations {limit} is too large to exceed reasonably")
    ops = [
        {"method": "DELETE", "path": f"/Users/{ctx.name(f'bulk-none-{i}')}"}
        for i in range(limit + 1)
    ]
    ex = _bulk(ctx, ops)
    ctx.error(ex, 413)


def _results(ctx: Context, ex: Exchange) -> dict[str, dict[str, Any]]:
    """A 200 BulkResponse's operations by bulkId (RFC 7644 3.7.3)."""
    data = ctx.body(ex, 200)
    ctx.expect(BULK_RESPONSE in (data.get("schemas") or []), f"schemas {data.get('schemas')!r}")
    ops = data.get("Operations")
    if not isinstance(ops, list):
        raise ctx.fail(f"Operations is {ops!r}", "an array of operation results")
    return {str(op.get("bulkId")): op for op in ops if isinstance(op, dict) and op.get("bulkId")}


def _status(op: dict[str, Any] | None) -> str:
    return str((op or {}).get("status", "absent"))


def _created_id(op: dict[str, Any]) -> str:
    return str(op.get("location") or "").rstrip("/").rsplit("/", 1)[-1]


def _invalid_user(bulk_id: str) -> dict[str, Any]:
    """A POST the server must reject with a 400: a User without the required userName."""
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"schemas": [USER]}}


def _user_op(ctx: Context, bulk_id: str, label: str) -> dict[str, Any]:
    data = {"schemas": [USER], "userName": ctx.name(label)}
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}


def _exists(ctx: Context, label: str) -> bool:
    _, found, _ = ctx.search("/Users", f'userName eq "{ctx.name(label)}"')
    return bool(found["totalResults"])


@check(
    "bulk.forward-reference",
    "An operation references a bulkId defined by a later operation of the same request",
    "RFC 7644 3.7.2",
    "200 BulkResponse; both operations 201; the group (sent first) has the later user as member",
)
def forward_reference(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    ops = [
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "fg",
            "data": {
                "schemas": [GROUP],
                "displayName": ctx.name("bulk-fwd-g"),
                "members": [{"type": "User", "value": "bulkId:fu"}],
            },
        },
        _user_op(ctx, "fu", "bulk-fwd-u"),
    ]
    ex = _bulk(ctx, ops)
    results = _results(ctx, ex)
    statuses = {b: _status(results.get(b)) for b in ("fg", "fu")}
    ctx.expect(statuses == {"fg": "201", "fu": "201"}, f"statuses {statuses}: {ex.summary()}")
    user_id, group_id = _created_id(results["fu"]), _created_id(results["fg"])
    group = ctx.resource(ctx.get(f"/Groups/{group_id}"), 200, schema=GROUP)
    members = {m.get("value") for m in group.get("members") or []}
    ctx.expect(members == {user_id}, f"members {group.get('members')!r}, user {user_id}")
    ctx.focus = ex
    ctx.actual = f"HTTP 200; statuses {statuses}; the group's member is the new user"


@check(
    "bulk.circular-reference",
    "Two groups that are each other's member (the RFC's circular reference example)",
    "RFC 7644 3.7.1",
    "200 BulkResponse; either both groups 201, each a member of the other, "
    "or 409 for the operations whose references the server cannot resolve",
)
def circular_reference(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")

    def group_op(bulk_id: str, other: str) -> dict[str, Any]:
        return {
            "method": "POST",
            "path": "/Groups",
            "bulkId": bulk_id,
            "data": {
                "schemas": [GROUP],
                "displayName": ctx.name(f"bulk-circ-{bulk_id}"),
                "members": [{"type": "Group", "value": f"bulkId:{other}"}],
            },
        }

    ex = _bulk(ctx, [group_op("ca", "cb"), group_op("cb", "ca")])
    results = _results(ctx, ex)
    statuses = {b: _status(results.get(b)) for b in ("ca", "cb")}
    ctx.focus = ex
    if statuses == {"ca": "201", "cb": "201"}:
        ids = {b: _created_id(results[b]) for b in ("ca", "cb")}
        for bulk_id, other in (("ca", "cb"), ("cb", "ca")):
            group = ctx.resource(ctx.get(f"/Groups/{ids[bulk_id]}"), 200, schema=GROUP)
            members = {m.get("value") for m in group.get("members") or []}
            ctx.expect(
                members == {ids[other]},
                f"group {bulk_id} has members {group.get('members')!r}, expected {ids[other]}",
            )
        ctx.focus = ex
        ctx.actual = "HTTP 200; both groups 201, each a member of the other (cycle resolved)"
        return
    ctx.expect(
        "409" in statuses.values() and set(statuses.values()) <= {"201", "409"},
        f"statuses {statuses}: {ex.summary()}",
    )
    ctx.actual = f"HTTP 200; statuses {statuses} (the server declined the cycle with 409)"


@check(
    "bulk.max-payload-size",
    "A BulkRequest larger than maxPayloadSize is a 413",
    "RFC 7644 3.7.4; RFC 7643 5",
    "HTTP 413 with a SCIM Error",
)
def max_payload_size(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    limit = ctx.feature("bulk", "maxPayloadSize")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ctx.fail(f"bulk.maxPayloadSize is {limit!r}", "a positive integer (RFC 7643 5)")
    if limit >= MAX_PAYLOAD_TESTED:
        raise CheckSkipped(f"maxPayloadSize {limit} is too large to exceed reasonably")
    # One DELETE of an id that does not exist, padded past the limit: a server that
    # wrongly accepts the request changes nothing.
    op = {"method": "DELETE", "path": f"/Users/{ctx.name('bulk-none-payload')}"}
    padded = {**op, "data": {"padding": "x" * (limit + 1024)}}
    body = {"schemas": [BULK_REQUEST], "Operations": [padded]}
    size = len(json.dumps(body))
    ex = ctx.request("POST", "/Bulk", body)
    # Keep the report readable: record the request without its megabytes of padding.
    shown = {**op, "data": {"padding": f"<{limit + 1024} times 'x'>"}}
    ex.request_body = {"schemas": [BULK_REQUEST], "Operations": [shown]}
    ctx.error(ex, 413)
    ctx.actual = f"HTTP 413 for a {size}-byte request (maxPayloadSize {limit})"


@check(
    "bulk.fail-on-errors-count",
    "failOnErrors=2 tolerates one error and stops after the second",
    "RFC 7644 3.7.3",
    "200 BulkResponse: 400, 201, 400 for the first three operations; the fourth is not performed",
)
def fail_on_errors_count(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    ops = [
        _invalid_user("e1"),
        _user_op(ctx, "ok1", "bulk-foe-ok1"),
        _invalid_user("e2"),
        _user_op(ctx, "ok2", "bulk-foe-ok2"),
    ]
    ex = _bulk(ctx, ops, failOnErrors=2)
    results = _results(ctx, ex)
    statuses = {b: _status(results.get(b)) for b in ("e1", "ok1", "e2", "ok2")}
    ctx.expect(
        statuses["e1"].startswith("4") and statuses["e2"].startswith("4"),
        f"statuses {statuses}",
        "the invalid POSTs fail with 4xx",
    )
    ran = "the valid operation between the errors runs (201)"
    ctx.expect(statuses["ok1"] == "201", f"statuses {statuses}", ran)
    stop = "no operation after the second error"
    ctx.expect(statuses["ok2"] != "201", f"statuses {statuses}", stop)
    ctx.expect(_exists(ctx, "bulk-foe-ok1"), "the operation between the errors is absent", ran)
    ctx.expect(not _exists(ctx, "bulk-foe-ok2"), "the operation after them was performed", stop)
    ctx.focus = ex
    ctx.actual = f"HTTP 200; statuses {statuses}"


@check(
    "bulk.continue-on-errors",
    "Without failOnErrors the server performs the operations after a failed one",
    "RFC 7644 3.7",
    "200 BulkResponse: the invalid POST fails with 4xx, the valid one after it is 201",
)
def continue_on_errors(ctx: Context) -> None:
    ctx.require_feature("bulk", "supported")
    ex = _bulk(ctx, [_invalid_user("e1"), _user_op(ctx, "ok", "bulk-cont-ok")])
    results = _results(ctx, ex)
    statuses = {b: _status(results.get(b)) for b in ("e1", "ok")}
    ctx.expect(statuses["e1"].startswith("4") and statuses["ok"] == "201", f"statuses {statuses}")
    ctx.expect(_exists(ctx, "bulk-cont-ok"), "the valid operation was not performed")
    ctx.focus = ex
    ctx.actual = f"HTTP 200; statuses {statuses}"
