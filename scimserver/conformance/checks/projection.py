"""Projection: RFC 7644 3.4.2.5 and 3.9 (attributes / excludedAttributes), RFC 7643 2.4."""

from __future__ import annotations

from ..context import GROUP, Context
from ..model import area
from ._data import filter_group, filter_users, prefix

check = area("projection")
A = "RFC 7644 3.4.2.5; RFC 7644 3.9"


@check(
    "projection.attributes",
    "attributes=userName returns userName plus the always-returned id and schemas",
    A + "; RFC 7643 2.4",
    "id, schemas and userName present; name, emails, title absent",
)
def attributes(ctx: Context) -> None:
    alpha = filter_users(ctx)["alpha"]
    data = ctx.body(ctx.get(f"/Users/{alpha['id']}", {"attributes": "userName"}), 200)
    ctx.expect(data.get("id") == alpha["id"] and "schemas" in data, f"keys {sorted(data)}")
    ctx.expect(data.get("userName") == alpha["userName"], f"keys {sorted(data)}")
    extra = [k for k in ("name", "emails", "title", "nickName") if k in data]
    ctx.expect(not extra, f"also returned {extra}")


@check(
    "projection.sub-attribute",
    "attributes=name.givenName returns only that sub-attribute of name",
    A,
    "name.givenName present; name.familyName and emails absent",
)
def sub_attribute(ctx: Context) -> None:
    alpha = filter_users(ctx)["alpha"]
    data = ctx.body(ctx.get(f"/Users/{alpha['id']}", {"attributes": "name.givenName"}), 200)
    name = data.get("name") or {}
    ctx.expect(name.get("givenName") == "Ann", f"name = {name!r}")
    ctx.expect("familyName" not in name and "emails" not in data, f"returned {data!r}"[:400])


@check(
    "projection.excluded",
    "excludedAttributes=emails omits emails and keeps the rest",
    A,
    "emails absent; userName, name present",
)
def excluded(ctx: Context) -> None:
    alpha = filter_users(ctx)["alpha"]
    data = ctx.body(ctx.get(f"/Users/{alpha['id']}", {"excludedAttributes": "emails"}), 200)
    ctx.expect("emails" not in data, "emails still returned")
    ctx.expect("userName" in data and "name" in data, f"keys {sorted(data)}")


@check(
    "projection.list-attributes",
    "attributes applies to every resource of a list",
    A,
    "each resource has id and userName and no emails",
)
def list_attributes(ctx: Context) -> None:
    filter_users(ctx)
    resources, _, _ = ctx.search("/Users", f'userName sw "{prefix(ctx)}"', attributes="userName")
    ctx.expect(len(resources) > 0, "no resources")
    for r in resources:
        ctx.expect("id" in r and "userName" in r and "emails" not in r, f"resource {r!r}"[:300])


@check(
    "projection.group-excluded-members",
    "excludedAttributes=members on a group and a group query",
    A,
    "no members on GET /Groups/{id} nor on GET /Groups?filter=…; displayName kept",
)
def group_excluded_members(ctx: Context) -> None:
    group = filter_group(ctx)
    data = ctx.resource(
        ctx.get(f"/Groups/{group['id']}", {"excludedAttributes": "members"}), 200, schema=GROUP
    )
    ctx.expect("members" not in data, "members returned on GET by id")
    ctx.expect(data.get("displayName") == group["displayName"], f"keys {sorted(data)}")
    resources, _, _ = ctx.search(
        "/Groups", f'displayName eq "{group["displayName"]}"', excludedAttributes="members"
    )
    ctx.expect(len(resources) == 1, f"{len(resources)} groups matched")
    ctx.expect("members" not in resources[0], "members returned in the list")
