"""The Microsoft Entra ID provisioning lifecycle with the request shapes Entra sends by
default (PascalCase ops, "False" strings, dotted keys, bare-string manager, member
removal with a value list; see docs/entra.md).

Several shapes are not RFC 7644 syntax but what Entra sends; the RFC column names the
section each step builds on. A step whose prerequisite failed is skipped.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..context import ENTERPRISE, GROUP, USER, Context, patch_body
from ..model import area

check = area("entra")
ENTRA_CT = "application/scim+json; charset=utf-8"


def _user(ctx: Context) -> dict[str, Any]:
    user: dict[str, Any] = ctx.prerequisite("entra.user")
    return user


def _patch_user(ctx: Context, *ops: dict[str, Any]) -> dict[str, Any]:
    user = _user(ctx)
    ex = ctx.patch(f"/Users/{user['id']}", patch_body(*ops), content_type=ENTRA_CT)
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.focus = ex
    return data


@check(
    "entra.test-connection",
    "Test connection: filter on a random GUID returns an empty ListResponse",
    "RFC 7644 3.4.2",
    "200 ListResponse, totalResults 0, no Resources",
    profile="entra",
)
def test_connection(ctx: Context) -> None:
    _, data, ex = ctx.search("/Users", f'userName eq "{uuid.uuid4()}"')
    ctx.expect(data["totalResults"] == 0 and not data.get("Resources"), ex.summary())


@check(
    "entra.create-user",
    "Create user with the enterprise extension, meta.resourceType and roles []",
    "RFC 7644 3.3; RFC 7643 4.3",
    "201; meta (readOnly) ignored; enterprise employeeNumber stored",
    profile="entra",
)
def create_user(ctx: Context) -> None:
    external_id = str(uuid.uuid4())
    login = f"{ctx.name('entra')}@example.com"
    schemas = [USER, ENTERPRISE] if ctx.has_enterprise_extension() else [USER]
    body: dict[str, Any] = {
        "schemas": schemas,
        "externalId": external_id,
        "userName": login,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": login}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Entra Tester", "familyName": "Tester", "givenName": "Entra"},
        "roles": [],
    }
    if ctx.has_enterprise_extension():
        body[ENTERPRISE] = {"employeeNumber": "E-1", "department": "Provisioning"}
    data = ctx.resource(ctx.post("/Users", body, content_type=ENTRA_CT), 201)
    if ctx.has_enterprise_extension():
        ext = data.get(ENTERPRISE) or {}
        ctx.expect(ext.get("employeeNumber") == "E-1", f"{ENTERPRISE} = {ext!r}")
    ctx.state["entra.user"] = data
    ctx.state["entra.externalId"] = external_id
    ctx.state["entra.login"] = login


@check(
    "entra.query-externalid",
    "Match by externalId (filter=externalId+eq+%22…%22)",
    "RFC 7644 3.4.2.2",
    "200 ListResponse with exactly the user",
    profile="entra",
)
def query_external_id(ctx: Context) -> None:
    user = _user(ctx)
    external_id = ctx.state["entra.externalId"]
    ex = ctx.request("GET", f"/Users?filter=externalId+eq+%22{external_id}%22")
    data = ctx.list_response(ex)
    ids = {r.get("id") for r in data.get("Resources") or []}
    ctx.expect(ids == {user["id"]}, f"matched {sorted(map(str, ids))}")


@check(
    "entra.query-raw-quotes",
    'Match by userName with bare quotes and + as space (filter=userName+eq+"x%40y")',
    "RFC 7644 3.4.2.2; RFC 3986 3.4",
    "200 ListResponse with exactly the user",
    profile="entra",
)
def query_raw(ctx: Context) -> None:
    user = _user(ctx)
    login = str(ctx.state["entra.login"]).replace("@", "%40")
    ex = ctx.request("GET", f'/Users?filter=userName+eq+"{login}"')
    data = ctx.list_response(ex)
    ids = {r.get("id") for r in data.get("Resources") or []}
    ctx.expect(ids == {user["id"]}, f"matched {sorted(map(str, ids))}")


@check(
    "entra.query-username-case",
    "Match by upper-cased userName (the validator's 'different case' test)",
    "RFC 7644 3.4.2.2; RFC 7643 4.1.1",
    "200 ListResponse with exactly the user",
    profile="entra",
)
def query_case(ctx: Context) -> None:
    user = _user(ctx)
    ids, _ = ctx.ids("/Users", f'userName eq "{str(ctx.state["entra.login"]).upper()}"')
    ctx.expect(ids == {user["id"]}, f"matched {sorted(ids)}")


@check(
    "entra.query-email-value-path",
    'Match by emails[type eq "work"].value eq "…"',
    "RFC 7644 3.4.2.2",
    "200 ListResponse with exactly the user",
    profile="entra",
)
def query_email(ctx: Context) -> None:
    user = _user(ctx)
    expression = f'emails[type eq "work"].value eq "{ctx.state["entra.login"]}"'
    ids, _ = ctx.ids("/Users", expression)
    ctx.expect(ids == {user["id"]}, f"matched {sorted(ids)}")


@check(
    "entra.replace-pascal-case",
    'PascalCase "Replace" ops on name.familyName and emails[type eq "work"].value',
    "RFC 7644 3.5.2.3",
    "200/204; both values replaced",
    profile="entra",
)
def replace_pascal(ctx: Context) -> None:
    new_mail = f"{ctx.name('entra-new')}@example.com"
    data = _patch_user(
        ctx,
        {"op": "Replace", "path": "name.familyName", "value": "Replaced"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": new_mail},
    )
    works = [e.get("value") for e in data.get("emails") or [] if e.get("type") == "work"]
    ctx.expect(
        (data.get("name") or {}).get("familyName") == "Replaced" and works == [new_mail],
        f"name {data.get('name')!r}, emails {data.get('emails')!r}",
    )


@check(
    "entra.add-single-value",
    'PascalCase "Add" of a single-valued string attribute',
    "RFC 7644 3.5.2.1",
    "200/204; nickName set",
    profile="entra",
)
def add_single(ctx: Context) -> None:
    data = _patch_user(ctx, {"op": "Add", "path": "nickName", "value": "Babs"})
    ctx.expect(data.get("nickName") == "Babs", f"nickName {data.get('nickName')!r}")


@check(
    "entra.disable-string-false",
    'Disable: Replace active with the string "False"; the user stays findable',
    "RFC 7644 3.5.2.3; RFC 7643 2.3.2",
    "200/204; GET and the userName filter show active false",
    profile="entra",
)
def disable(ctx: Context) -> None:
    user = _user(ctx)
    data = _patch_user(ctx, {"op": "Replace", "path": "active", "value": "False"})
    ctx.expect(data.get("active") is False, f"active {data.get('active')!r}")
    ids, _ = ctx.ids("/Users", f'userName eq "{ctx.state["entra.login"]}"')
    ctx.expect(ids == {user["id"]}, "disabled user not returned by the filter")


@check(
    "entra.restore-string-true",
    'Restore: Replace active with the string "True"',
    "RFC 7644 3.5.2.3",
    "200/204; active true",
    profile="entra",
)
def restore(ctx: Context) -> None:
    data = _patch_user(ctx, {"op": "Replace", "path": "active", "value": "True"})
    ctx.expect(data.get("active") is True, f"active {data.get('active')!r}")


@check(
    "entra.dotted-no-path-replace",
    "replace without path whose value has dotted keys (name.givenName, urn:…:employeeNumber)",
    "RFC 7644 3.5.2.3; RFC 7644 3.10",
    "200/204; name.givenName and the enterprise employeeNumber replaced",
    profile="entra",
)
def dotted(ctx: Context) -> None:
    value: dict[str, Any] = {"displayName": "Dotted", "name.givenName": "Dot"}
    if ctx.has_enterprise_extension():
        value[f"{ENTERPRISE}:employeeNumber"] = "E-2"
    data = _patch_user(ctx, {"op": "replace", "value": value})
    ctx.expect(
        data.get("displayName") == "Dotted" and (data.get("name") or {}).get("givenName") == "Dot",
        f"displayName {data.get('displayName')!r}, name {data.get('name')!r}",
    )
    if ctx.has_enterprise_extension():
        ext = data.get(ENTERPRISE) or {}
        ctx.expect(ext.get("employeeNumber") == "E-2", f"{ENTERPRISE} = {ext!r}")


@check(
    "entra.manager-bare-string",
    "Manager set with a bare string value, then removed",
    "RFC 7643 4.3; RFC 7644 3.5.2",
    "200/204; manager.value is the manager's id; after Remove, no manager",
    profile="entra",
)
def manager(ctx: Context) -> None:
    ctx.require_enterprise()
    boss = ctx.new_user("entra-boss")
    path = f"{ENTERPRISE}:manager"
    data = _patch_user(ctx, {"op": "Add", "path": path, "value": boss["id"]})
    got = (data.get(ENTERPRISE) or {}).get("manager") or {}
    ctx.expect(isinstance(got, dict) and got.get("value") == boss["id"], f"manager {got!r}")
    data = _patch_user(ctx, {"op": "Remove", "path": path})
    ctx.expect(not (data.get(ENTERPRISE) or {}).get("manager"), f"manager still {data!r}"[:300])


@check(
    "entra.group-create",
    "Create group with externalId and meta",
    "RFC 7644 3.3",
    "201 with id",
    profile="entra",
)
def group_create(ctx: Context) -> None:
    body = {
        "schemas": [GROUP],
        "externalId": str(uuid.uuid4()),
        "displayName": ctx.name("entra-group"),
        "meta": {"resourceType": "Group"},
    }
    ex = ctx.post("/Groups", body, content_type=ENTRA_CT)
    ctx.state["entra.group"] = ctx.resource(ex, 201, schema=GROUP)


@check(
    "entra.group-duplicate",
    "A second group with the same displayName is a 409 (Entra requires unique displayName)",
    "RFC 7644 3.12 (Entra requirement, not RFC)",
    "HTTP 409 scimType uniqueness",
    profile="entra",
)
def group_duplicate(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    body = {"schemas": [GROUP], "displayName": group["displayName"]}
    ex = ctx.post("/Groups", body, content_type=ENTRA_CT)
    ctx.discard(ex)
    ctx.error(ex, 409, "uniqueness")


@check(
    "entra.group-query-excluding-members",
    "GET /Groups?excludedAttributes=members&filter=displayName eq …",
    "RFC 7644 3.4.2.5",
    "exactly the group, without members",
    profile="entra",
)
def group_query(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    resources, _, _ = ctx.search(
        "/Groups", f'displayName eq "{group["displayName"]}"', excludedAttributes="members"
    )
    ctx.expect(
        [r.get("id") for r in resources] == [group["id"]] and "members" not in resources[0],
        f"got {resources!r}"[:400],
    )


def _members(ctx: Context, gid: str) -> set[str]:
    data = ctx.resource(ctx.get(f"/Groups/{gid}"), 200, schema=GROUP)
    return {str(m.get("value")) for m in data.get("members") or []}


@check(
    "entra.group-add-members",
    'Add two members in one op: {"op":"Add","path":"members","value":[…]}',
    "RFC 7644 3.5.2.1",
    "200/204; both users are members",
    profile="entra",
)
def group_add(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    user = _user(ctx)
    other = ctx.new_user("entra-member2")
    op = {
        "op": "Add",
        "path": "members",
        "value": [{"$ref": None, "value": user["id"]}, {"value": other["id"]}],
    }
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op), content_type=ENTRA_CT)
    ctx.status(ex, 200, 204)
    got = _members(ctx, group["id"])
    ctx.expect(got == {user["id"], other["id"]}, f"members {sorted(got)}")
    ctx.state["entra.other"] = other
    ctx.focus = ex


@check(
    "entra.group-remove-member-value",
    'Remove a member with a value list: {"op":"Remove","path":"members","value":[{"value":…}]}',
    "RFC 7644 3.5.2.2",
    "200/204; only that member is removed",
    profile="entra",
)
def group_remove(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    other = ctx.prerequisite("entra.other")
    user = _user(ctx)
    op = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user["id"]}]}
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op), content_type=ENTRA_CT)
    ctx.status(ex, 200, 204)
    got = _members(ctx, group["id"])
    ctx.expect(got == {other["id"]}, f"members {sorted(got)}")
    ctx.focus = ex


@check(
    "entra.group-replace-displayname",
    'Rename: {"op":"Replace","path":"displayName",…}',
    "RFC 7644 3.5.2.3",
    "200/204; the new displayName",
    profile="entra",
)
def group_rename(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    new = ctx.name("entra-group-renamed")
    op = {"op": "Replace", "path": "displayName", "value": new}
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op), content_type=ENTRA_CT)
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    ctx.expect(data.get("displayName") == new, f"displayName {data.get('displayName')!r}")
    ctx.focus = ex


@check(
    "entra.delete-user",
    "Delete user: 204, then 404",
    "RFC 7644 3.6",
    "204, then GET 404",
    profile="entra",
)
def delete_user(ctx: Context) -> None:
    user = _user(ctx)
    ex = ctx.delete(f"/Users/{user['id']}")
    ctx.status(ex, 204)
    ctx.error(ctx.get(f"/Users/{user['id']}"), 404)
    ctx.focus = ex


@check(
    "entra.delete-group",
    "Delete group: 204, then 404",
    "RFC 7644 3.6",
    "204, then GET 404",
    profile="entra",
)
def delete_group(ctx: Context) -> None:
    group = ctx.prerequisite("entra.group")
    ex = ctx.delete(f"/Groups/{group['id']}")
    ctx.status(ex, 204)
    ctx.error(ctx.get(f"/Groups/{group['id']}"), 404)
    ctx.focus = ex
