"""The Okta provisioning lifecycle, request for request as Okta documents it
(Okta SCIM 2.0 reference and its spec/CRUD test suites; see docs/okta.md).

Each step is a check; a step whose prerequisite failed is skipped (the failed step
already makes the run fail). The RFC sections are those each step relies on.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from ..context import GROUP, PATCH_OP, USER, Context, patch_body
from ..model import area

check = area("okta")


def _okta_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "00u" + "".join(secrets.choice(alphabet) for _ in range(17))


def _login(ctx: Context) -> str:
    return f"{ctx.name('okta')}@example.com"


@check(
    "okta.existence-check-absent",
    "Existence check for a user that does not exist yet",
    "RFC 7644 3.4.2; RFC 7644 3.4.2.2",
    "200 ListResponse, totalResults 0 (GET /Users?filter=userName eq …&startIndex=1&count=100)",
    profile="okta",
)
def existence_absent(ctx: Context) -> None:
    _, data, ex = ctx.search("/Users", f'userName eq "{_login(ctx)}"', startIndex=1, count=100)
    ctx.expect(data["totalResults"] == 0 and not data.get("Resources"), ex.summary())


@check(
    "okta.create-user",
    "Create the user with Okta's body (application/json, password, groups [])",
    "RFC 7644 3.3; RFC 7643 4.1",
    "201 with id, active true, userName/name as sent, no password",
    profile="okta",
)
def create_user(ctx: Context) -> None:
    body = {
        "schemas": [USER],
        "userName": _login(ctx),
        "name": {"givenName": "Okta", "familyName": "Tester"},
        "emails": [{"primary": True, "value": _login(ctx), "type": "work"}],
        "displayName": "Okta Tester",
        "locale": "en-US",
        "externalId": _okta_id(),
        "groups": [],
        "password": "1mz050nq!Okta",
        "active": True,
    }
    ex = ctx.post("/Users", body, content_type="application/json")
    data = ctx.resource(ex, 201)
    ctx.expect(data.get("active") is True, f"active {data.get('active')!r}")
    ctx.expect(
        data.get("userName") == body["userName"]
        and (data.get("name") or {}).get("givenName") == "Okta",
        f"userName {data.get('userName')!r}, name {data.get('name')!r}",
    )
    ctx.expect("password" not in data, "password returned")
    ctx.state["okta.user"] = data
    ctx.state["okta.body"] = body


@check(
    "okta.existence-check-present",
    "Existence check finds the created user",
    "RFC 7644 3.4.2.2",
    "200 ListResponse with exactly the created user",
    profile="okta",
)
def existence_present(ctx: Context) -> None:
    user = ctx.prerequisite("okta.user")
    ids, _ = ctx.ids("/Users", f'userName eq "{_login(ctx)}"', startIndex=1)
    ctx.expect(ids == {user["id"]}, f"matched {sorted(ids)}")


@check(
    "okta.duplicate",
    "Re-creating the same user is a 409",
    "RFC 7644 3.3; RFC 7644 3.12",
    "HTTP 409 with an Error body",
    profile="okta",
)
def duplicate(ctx: Context) -> None:
    body = ctx.prerequisite("okta.body")
    ex = ctx.post("/Users", body, content_type="application/json")
    ctx.discard(ex)
    ctx.error(ex, 409)


@check(
    "okta.profile-update-put",
    "Profile update: PUT of the whole user as read (id, groups, meta included)",
    "RFC 7644 3.5.1; RFC 7644 3.3",
    "200 with name.givenName updated",
    profile="okta",
)
def profile_put(ctx: Context) -> None:
    user = ctx.prerequisite("okta.user")
    current = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    body: dict[str, Any] = {
        "schemas": [USER],
        "id": user["id"],
        "userName": current["userName"],
        "name": {"givenName": "Okta2", "middleName": "M", "familyName": "Tester"},
        "emails": [{"primary": True, "value": _login(ctx), "type": "work", "display": _login(ctx)}],
        "active": True,
        "groups": [],
        "meta": {"resourceType": "User"},
    }
    data = ctx.resource(ctx.put(f"/Users/{user['id']}", body), 200)
    ctx.expect((data.get("name") or {}).get("givenName") == "Okta2", f"name {data.get('name')!r}")


def _set_active(ctx: Context, active: bool) -> None:
    user = ctx.prerequisite("okta.user")
    body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active}}]}
    ex = ctx.patch(f"/Users/{user['id']}", body)
    data = ctx.patched(ex, f"/Users/{user['id']}")
    ctx.expect(data.get("active") is active, f"active {data.get('active')!r}")
    again = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.expect(again.get("active") is active, f"GET shows active {again.get('active')!r}")
    found, _ = ctx.ids("/Users", f'userName eq "{_login(ctx)}"')
    ctx.expect(found == {user["id"]}, "the user is no longer found by the userName filter")
    ctx.focus = ex


@check(
    "okta.deactivate",
    "Deactivate: PATCH replace without path {active: false}; the user stays readable",
    "RFC 7644 3.5.2.3",
    "200/204; GET and the userName filter show the user with active false",
    profile="okta",
)
def deactivate(ctx: Context) -> None:
    _set_active(ctx, False)


@check(
    "okta.reactivate",
    "Reactivate: PATCH replace without path {active: true}",
    "RFC 7644 3.5.2.3",
    "200/204; active true",
    profile="okta",
)
def reactivate(ctx: Context) -> None:
    _set_active(ctx, True)


@check(
    "okta.group-push",
    "Push group: POST /Groups with members []",
    "RFC 7644 3.3; RFC 7643 4.2",
    "201 with id",
    profile="okta",
)
def group_push(ctx: Context) -> None:
    body = {"schemas": [GROUP], "displayName": ctx.name("okta-group"), "members": []}
    ctx.state["okta.group"] = ctx.resource(ctx.post("/Groups", body), 201, schema=GROUP)


@check(
    "okta.group-membership",
    "Membership: one PATCH with replace {id, displayName}, remove members[value eq], add members",
    "RFC 7644 3.5.2",
    "200/204; the group then has the user as its member",
    profile="okta",
)
def group_membership(ctx: Context) -> None:
    group = ctx.prerequisite("okta.group")
    user = ctx.prerequisite("okta.user")
    body = patch_body(
        {"op": "replace", "value": {"id": group["id"], "displayName": group["displayName"]}},
        {"op": "remove", "path": f'members[value eq "{user["id"]}"]'},
        {"op": "add", "path": "members", "value": [{"value": user["id"], "display": _login(ctx)}]},
    )
    ex = ctx.patch(f"/Groups/{group['id']}", body)
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    members = {m.get("value") for m in data.get("members") or []}
    ctx.expect(members == {user["id"]}, f"members {data.get('members')!r}")
    ctx.focus = ex


@check(
    "okta.group-rename",
    "Rename: PATCH replace without path {id, displayName}",
    "RFC 7644 3.5.2.3",
    "200/204; the new displayName; members kept",
    profile="okta",
)
def group_rename(ctx: Context) -> None:
    group = ctx.prerequisite("okta.group")
    user = ctx.prerequisite("okta.user")
    new = ctx.name("okta-group-renamed")
    ex = ctx.patch(
        f"/Groups/{group['id']}",
        patch_body({"op": "replace", "value": {"id": group["id"], "displayName": new}}),
    )
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    ctx.expect(data.get("displayName") == new, f"displayName {data.get('displayName')!r}")
    members = {m.get("value") for m in data.get("members") or []}
    ctx.expect(user["id"] in members, f"members {data.get('members')!r}")
    ctx.focus = ex


@check(
    "okta.group-unlink",
    "Unlink pushed group: DELETE /Groups/{id}",
    "RFC 7644 3.6",
    "204, then 404",
    profile="okta",
)
def group_unlink(ctx: Context) -> None:
    group = ctx.prerequisite("okta.group")
    ex = ctx.delete(f"/Groups/{group['id']}")
    ctx.status(ex, 204)
    ctx.error(ctx.get(f"/Groups/{group['id']}"), 404)
    ctx.focus = ex
