"""Shared test data: a small set of users whose attribute values are unique to the run.

The values are chosen so that wrong implementations give *different* answers from right
ones: ``a or b and c`` differs from ``(a or b) and c``; a ``LIKE`` without escaping
matches a title that a literal ``co``/``sw`` must not; alpha's *work* e-mail and its
*home* e-mail match different halves of a value filter, so evaluating each half on a
different element wrongly matches alpha.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..context import ENTERPRISE, GROUP, USER, Context

LABELS = ("alpha", "beta", "gamma", "lit", "pct", 'q"uote')


def prefix(ctx: Context) -> str:
    """The common userName prefix of the filter users."""
    return ctx.name("f-")


def _bodies(ctx: Context, enterprise: bool) -> dict[str, dict[str, Any]]:
    r = ctx.run_id
    spec: dict[str, dict[str, Any]] = {
        "alpha": {
            "title": f"Eng {r} lead",
            "displayName": f"{r} D1",
            "nickName": "Al",
            "userType": "Employee",
            "externalId": f"{r}-ExtA",
            "name": {"givenName": "Ann", "familyName": f"Smith{r}"},
            "emails": [
                {"type": "work", "value": f"alpha@{r}.example.com"},
                {"type": "home", "value": f"alpha@{r}.example.org"},
            ],
            "dept": f"Sales {r}",
        },
        "beta": {
            "title": f"Ops {r} staff",
            "displayName": f"{r} D2",
            "userType": "Contractor",
            "externalId": f"{r}-extb",
            "name": {"givenName": "Bob", "familyName": f"Jones{r}"},
            "emails": [{"type": "work", "value": f"beta@{r}.example.org"}],
            "dept": f"Eng {r}",
        },
        "gamma": {
            "title": f"Ops {r} chief",
            "displayName": f"{r} D3",
            "nickName": "Gam",
            "userType": "Employee",
            "emails": [{"type": "work", "value": f"gamma@{r}.example.com"}],
        },
        "lit": {"title": f"Sale {r} 50a-off", "displayName": f"{r} D4", "userType": "Contractor"},
        "pct": {"title": f"Sale {r} 5_%off", "displayName": f"{r} D5", "userType": "Employee"},
        'q"uote': {"title": f"Misc {r} quote", "displayName": f"{r} D6", "userType": "Employee"},
    }
    bodies = {}
    for label, attrs in spec.items():
        attrs = dict(attrs)
        dept = attrs.pop("dept", None)
        body: dict[str, Any] = {"schemas": [USER], "userName": prefix(ctx) + label, **attrs}
        if enterprise and dept:
            body["schemas"] = [USER, ENTERPRISE]
            body[ENTERPRISE] = {"department": dept}
        bodies[label] = body
    return bodies


def filter_users(ctx: Context) -> dict[str, dict[str, Any]]:
    """The filter users, created once per run: label -> the server's representation."""

    def build(c: Context) -> dict[str, dict[str, Any]]:
        created = {}
        for label, body in _bodies(c, c.has_enterprise_extension()).items():
            created[label] = c.create("/Users", body)
        return created

    users: dict[str, dict[str, Any]] = ctx.fixture("filter-users", build)
    return users


def filter_group(ctx: Context) -> dict[str, Any]:
    """A group with alpha as its only member."""
    users = filter_users(ctx)

    def build(c: Context) -> dict[str, Any]:
        body = {
            "schemas": [GROUP],
            "displayName": c.name("fg"),
            "members": [{"value": users["alpha"]["id"]}],
        }
        return c.create("/Groups", body, schema=GROUP)

    group: dict[str, Any] = ctx.fixture("filter-group", build)
    return group


def label_of(users: dict[str, dict[str, Any]], rid: Any) -> str:
    for label, user in users.items():
        if user.get("id") == rid:
            return label
    return f"<foreign {rid}>"


def scoped(ctx: Context, expression: str) -> str:
    """``userName sw "<prefix>" and (<expression>)``: limit a filter to the run's users."""
    return f'userName sw "{prefix(ctx)}" and ({expression})'


def expect_users(
    ctx: Context, expression: str, labels: set[str] | list[str], endpoint: str = "/Users"
) -> None:
    """GET ``endpoint?filter=expression`` returns exactly the users ``labels``."""
    users = filter_users(ctx)
    ids, ex = ctx.ids(endpoint, expression)
    ctx.focus = ex
    want = {users[label]["id"] for label in labels}
    got = sorted(label_of(users, rid) for rid in ids)
    ctx.expect(
        ids == want,
        f"filter {expression!r} matched {got}",
        f"exactly {sorted(labels) or 'nothing'}",
    )
    ctx.actual = f"HTTP {ex.status}; matched {got or 'nothing'}"


def parse_datetime(value: str) -> datetime:
    """An RFC 7643 2.3.5 dateTime (xsd:dateTime) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
