"""Create, read, replace and delete Users and Groups: RFC 7644 3.3, 3.4.1, 3.5.1, 3.6."""

from __future__ import annotations

from typing import Any

from ..context import GROUP, USER, Context
from ..model import area

check = area("crud")

PASSWORD = "Conformance-Pa55word!"


def _user_body(ctx: Context, label: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER],
        "userName": ctx.name(label),
        "name": {"givenName": "Conf", "familyName": "Ormance"},
        "emails": [{"value": f"{label}@{ctx.run_id}.example.com", "type": "work"}],
        "active": True,
    }
    body.update(extra)
    return body


@check(
    "crud.user-create",
    "POST /Users creates a user: 201, Location, id, meta",
    "RFC 7644 3.3",
    "201 with the user (new id), Location header equal to meta.location, meta.resourceType User",
)
def user_create(ctx: Context) -> None:
    ex = ctx.post("/Users", _user_body(ctx, "crud-create"))
    data = ctx.resource(ex, 201)
    location = ex.header("Location")
    ctx.expect(bool(location), f"no Location header: {ex.summary()}")
    assert location is not None
    meta = data.get("meta") or {}
    ctx.expect(
        location.rstrip("/").endswith(f"/Users/{data['id']}"),
        f"Location {location!r} does not name /Users/{data['id']}",
    )
    ctx.expect(
        meta.get("location") == location,
        f"meta.location {meta.get('location')!r} != Location {location!r}",
    )
    ctx.expect(
        meta.get("resourceType") == "User", f"meta.resourceType {meta.get('resourceType')!r}"
    )
    ctx.expect(
        data.get("userName") == ctx.name("crud-create"), f"userName {data.get('userName')!r}"
    )
    ctx.state["crud.user"] = data


@check(
    "crud.user-get",
    "GET /Users/{id} returns the created user",
    "RFC 7644 3.4.1",
    "200 with the same id and userName",
)
def user_get(ctx: Context) -> None:
    user = ctx.prerequisite("crud.user")
    data = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.expect(
        data["id"] == user["id"] and data.get("userName") == user.get("userName"),
        f"got id {data['id']!r} userName {data.get('userName')!r}",
    )


@check(
    "crud.password-never-returned",
    "password (returned: never) is absent from POST, GET and list responses",
    "RFC 7643 4.1.1; RFC 7643 2.2",
    "no 'password' attribute in any response, even with attributes=password",
)
def password_never_returned(ctx: Context) -> None:
    ex = ctx.post("/Users", _user_body(ctx, "crud-pw", password=PASSWORD))
    created = ctx.resource(ex, 201)
    uid = created["id"]
    responses = [
        ex,
        ctx.get(f"/Users/{uid}"),
        ctx.get(f"/Users/{uid}", {"attributes": "password,userName"}),
        ctx.get("/Users", {"filter": f'userName eq "{ctx.name("crud-pw")}"'}),
    ]
    for resp in responses:
        ctx.focus = resp
        ctx.expect(
            '"password"' not in resp.text and PASSWORD not in resp.text,
            f"{resp.method} {resp.path} returned the password: {resp.summary()}",
        )


@check(
    "crud.readonly-ignored",
    "readOnly attributes in a POST body (id, meta, groups) are ignored",
    "RFC 7644 3.3; RFC 7643 2.2",
    "201; the server assigns its own id and meta.created; groups sent by the client are ignored",
)
def readonly_ignored(ctx: Context) -> None:
    body = _user_body(
        ctx,
        "crud-ro",
        id="client-chosen-id",
        meta={"resourceType": "User", "created": "2001-01-01T00:00:00Z"},
        groups=[{"value": "not-a-group"}],
    )
    data = ctx.resource(ctx.post("/Users", body), 201)
    ctx.expect(data["id"] != "client-chosen-id", "the server kept the client's id")
    created = (data.get("meta") or {}).get("created", "")
    ctx.expect(not str(created).startswith("2001"), f"meta.created kept the client value {created}")
    ctx.expect(
        not any((g or {}).get("value") == "not-a-group" for g in data.get("groups") or []),
        f"groups kept the client value: {data.get('groups')!r}",
    )


@check(
    "crud.user-put",
    "PUT /Users/{id} replaces the user's writable attributes",
    "RFC 7644 3.5.1",
    "200 with the new values; id unchanged",
)
def user_put(ctx: Context) -> None:
    user = ctx.new_user("crud-put", displayName="Before", title="Before")
    body = _user_body(ctx, "crud-put", displayName="After", title="After")
    data = ctx.resource(ctx.put(f"/Users/{user['id']}", body), 200)
    ctx.expect(data["id"] == user["id"], f"id changed to {data['id']!r}")
    ctx.expect(
        data.get("displayName") == "After" and data.get("title") == "After",
        f"displayName {data.get('displayName')!r}, title {data.get('title')!r}",
    )
    again = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.expect(again.get("displayName") == "After", f"GET after PUT: {again.get('displayName')!r}")


@check(
    "crud.user-delete",
    "DELETE /Users/{id} answers 204; the user is gone for GET and for queries",
    "RFC 7644 3.6",
    "204, then GET 404 and a userName filter with totalResults 0",
)
def user_delete(ctx: Context) -> None:
    user = ctx.new_user("crud-del")
    ex = ctx.delete(f"/Users/{user['id']}")
    ctx.status(ex, 204)
    ctx.error(ctx.get(f"/Users/{user['id']}"), 404)
    _, data, listed = ctx.search("/Users", f'userName eq "{user["userName"]}"')
    ctx.focus = listed
    ctx.expect(data["totalResults"] == 0, f"deleted user still listed: {listed.summary()}")
    ctx.focus = ex


@check(
    "crud.not-found",
    "GET of an unknown id is a 404 SCIM error",
    "RFC 7644 3.12",
    'HTTP 404 with the Error schema and "status": "404"',
)
def not_found(ctx: Context) -> None:
    ctx.error(ctx.get(f"/Users/{ctx.name('does-not-exist')}"), 404)


@check(
    "crud.group-create",
    "POST /Groups creates a group with a member",
    "RFC 7644 3.3; RFC 7643 4.2",
    "201 with id, Location, displayName and the member",
)
def group_create(ctx: Context) -> None:
    member = ctx.new_user("crud-member")
    body = {
        "schemas": [GROUP],
        "displayName": ctx.name("crud-group"),
        "members": [{"value": member["id"]}],
    }
    ex = ctx.post("/Groups", body)
    data = ctx.resource(ex, 201, schema=GROUP)
    ctx.expect(bool(ex.header("Location")), f"no Location header: {ex.summary()}")
    values = {m.get("value") for m in data.get("members") or []}
    ctx.expect(member["id"] in values, f"members {data.get('members')!r}")
    ctx.state["crud.group"] = data
    ctx.state["crud.member"] = member


@check(
    "crud.group-get",
    "GET /Groups/{id} returns the group with its members",
    "RFC 7644 3.4.1",
    "200 with displayName and the member",
)
def group_get(ctx: Context) -> None:
    group = ctx.prerequisite("crud.group")
    member = ctx.prerequisite("crud.member")
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    values = {m.get("value") for m in data.get("members") or []}
    ctx.expect(
        data.get("displayName") == group["displayName"] and member["id"] in values,
        f"displayName {data.get('displayName')!r}, members {data.get('members')!r}",
    )


@check(
    "crud.group-put",
    "PUT /Groups/{id} replaces displayName and members",
    "RFC 7644 3.5.1",
    "200; the new displayName and exactly the new member list",
)
def group_put(ctx: Context) -> None:
    group = ctx.prerequisite("crud.group")
    other = ctx.new_user("crud-member2")
    body = {
        "schemas": [GROUP],
        "displayName": ctx.name("crud-group-renamed"),
        "members": [{"value": other["id"]}],
    }
    ctx.resource(ctx.put(f"/Groups/{group['id']}", body), 200, schema=GROUP)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    values = {m.get("value") for m in data.get("members") or []}
    ctx.expect(
        data.get("displayName") == body["displayName"] and values == {other["id"]},
        f"displayName {data.get('displayName')!r}, members {sorted(map(str, values))}",
    )


@check(
    "crud.group-delete",
    "DELETE /Groups/{id} answers 204, then 404",
    "RFC 7644 3.6",
    "204, then GET 404",
)
def group_delete(ctx: Context) -> None:
    group = ctx.prerequisite("crud.group")
    ex = ctx.delete(f"/Groups/{group['id']}")
    ctx.status(ex, 204)
    ctx.error(ctx.get(f"/Groups/{group['id']}"), 404)
    ctx.focus = ex
