"""PATCH: RFC 7644 3.5.2 (add 3.5.2.1, remove 3.5.2.2, replace 3.5.2.3), atomicity, errors."""

from __future__ import annotations

from typing import Any

from ..context import GROUP, Context, patch_body
from ..model import area

check = area("patch")
P = "RFC 7644 3.5.2"


def _user(ctx: Context, label: str) -> dict[str, Any]:
    r = ctx.run_id
    return ctx.new_user(
        label,
        nickName="Before",
        title="Before",
        name={"givenName": "Pat", "familyName": "Ch"},
        emails=[
            {"type": "work", "value": f"{label}@work.{r}.example.com"},
            {"type": "home", "value": f"{label}@home.{r}.example.com"},
        ],
    )


def _emails(user: dict[str, Any]) -> dict[str, str]:
    return {str(e.get("type")): str(e.get("value")) for e in user.get("emails") or []}


def _apply(ctx: Context, user: dict[str, Any], *ops: dict[str, Any]) -> dict[str, Any]:
    ex = ctx.patch(f"/Users/{user['id']}", patch_body(*ops))
    return ctx.patched(ex, f"/Users/{user['id']}")


@check(
    "patch.add-path", "add with a path sets a single-valued attribute", P + ".1", 'nickName "Added"'
)
def add_path(ctx: Context) -> None:
    user = _user(ctx, "p-add")
    data = _apply(ctx, user, {"op": "add", "path": "nickName", "value": "Added"})
    ctx.expect(data.get("nickName") == "Added", f"nickName {data.get('nickName')!r}")


@check(
    "patch.add-no-path",
    "add without a path merges the value object into the resource",
    P + ".1",
    'nickName "NoPath" and displayName "NoPath D"; other attributes kept',
)
def add_no_path(ctx: Context) -> None:
    user = _user(ctx, "p-addnp")
    data = _apply(
        ctx, user, {"op": "add", "value": {"nickName": "NoPath", "displayName": "NoPath D"}}
    )
    ctx.expect(
        data.get("nickName") == "NoPath" and data.get("displayName") == "NoPath D",
        f"nickName {data.get('nickName')!r}, displayName {data.get('displayName')!r}",
    )
    ctx.expect(data.get("title") == "Before", f"title {data.get('title')!r} changed")


@check(
    "patch.add-multi-valued",
    "add to a multi-valued attribute appends the new values",
    P + ".1",
    "the existing work and home e-mails plus the new 'other' one",
)
def add_multi(ctx: Context) -> None:
    user = _user(ctx, "p-addmv")
    new = {"type": "other", "value": f"other@{ctx.run_id}.example.com"}
    data = _apply(ctx, user, {"op": "add", "path": "emails", "value": [new]})
    emails = _emails(data)
    ctx.expect(set(emails) == {"work", "home", "other"}, f"emails {data.get('emails')!r}")


@check("patch.replace-path", "replace with a path", P + ".3", 'title "Replaced"')
def replace_path(ctx: Context) -> None:
    user = _user(ctx, "p-repl")
    data = _apply(ctx, user, {"op": "replace", "path": "title", "value": "Replaced"})
    ctx.expect(data.get("title") == "Replaced", f"title {data.get('title')!r}")


@check(
    "patch.replace-no-path",
    "replace without a path replaces the attributes named in the value",
    P + ".3",
    'title "R2" and nickName "R2"; name kept',
)
def replace_no_path(ctx: Context) -> None:
    user = _user(ctx, "p-replnp")
    data = _apply(ctx, user, {"op": "replace", "value": {"title": "R2", "nickName": "R2"}})
    ctx.expect(
        data.get("title") == "R2" and data.get("nickName") == "R2",
        f"title {data.get('title')!r}, nickName {data.get('nickName')!r}",
    )
    ctx.expect((data.get("name") or {}).get("givenName") == "Pat", f"name {data.get('name')!r}")


@check(
    "patch.replace-sub-attribute",
    "replace name.givenName changes only that sub-attribute",
    P + ".3; RFC 7644 3.10",
    'name.givenName "New", name.familyName kept',
)
def replace_sub(ctx: Context) -> None:
    user = _user(ctx, "p-replsub")
    data = _apply(ctx, user, {"op": "replace", "path": "name.givenName", "value": "New"})
    name = data.get("name") or {}
    ctx.expect(name.get("givenName") == "New" and name.get("familyName") == "Ch", f"name {name!r}")


@check(
    "patch.replace-value-filter",
    'replace emails[type eq "work"].value changes only the work e-mail',
    P + ".3",
    "work e-mail replaced, home e-mail unchanged",
)
def replace_value_filter(ctx: Context) -> None:
    user = _user(ctx, "p-replvf")
    new = f"new@work.{ctx.run_id}.example.com"
    data = _apply(
        ctx, user, {"op": "replace", "path": 'emails[type eq "work"].value', "value": new}
    )
    emails = _emails(data)
    ctx.expect(
        emails.get("work") == new and emails.get("home") == _emails(user)["home"],
        f"emails {data.get('emails')!r}",
    )


@check("patch.remove-path", "remove with a path clears the attribute", P + ".2", "nickName absent")
def remove_path(ctx: Context) -> None:
    user = _user(ctx, "p-rm")
    data = _apply(ctx, user, {"op": "remove", "path": "nickName"})
    ctx.expect("nickName" not in data, f"nickName {data.get('nickName')!r}")


@check(
    "patch.remove-value-filter",
    'remove emails[type eq "home"] removes only the matching element',
    P + ".2",
    "home e-mail gone, work e-mail kept",
)
def remove_value_filter(ctx: Context) -> None:
    user = _user(ctx, "p-rmvf")
    data = _apply(ctx, user, {"op": "remove", "path": 'emails[type eq "home"]'})
    ctx.expect(set(_emails(data)) == {"work"}, f"emails {data.get('emails')!r}")


@check(
    "patch.remove-no-path",
    "remove without a path is a 400 noTarget",
    P + ".2; RFC 7644 3.12",
    "HTTP 400 scimType noTarget",
)
def remove_no_path(ctx: Context) -> None:
    user = _user(ctx, "p-rmnp")
    ex = ctx.patch(f"/Users/{user['id']}", patch_body({"op": "remove"}))
    ctx.error(ex, 400, "noTarget")


@check(
    "patch.replace-filter-no-match",
    "replace with a value filter that matches nothing is a 400 noTarget",
    P + ".3; RFC 7644 3.12",
    "HTTP 400 scimType noTarget",
)
def replace_no_match(ctx: Context) -> None:
    user = _user(ctx, "p-nomatch")
    op = {
        "op": "replace",
        "path": 'emails[value eq "nobody@nowhere.invalid"].type',
        "value": "other",
    }
    ctx.error(ctx.patch(f"/Users/{user['id']}", patch_body(op)), 400, "noTarget")


@check(
    "patch.replace-filter-no-match-co",
    "replace with a non-equality value filter that matches nothing is a 400 noTarget",
    P + ".3; RFC 7644 3.12",
    "HTTP 400 scimType noTarget; the e-mails unchanged",
)
def replace_no_match_co(ctx: Context) -> None:
    user = _user(ctx, "p-nomatchco")
    op = {"op": "replace", "path": 'emails[value co "nobody"].type', "value": "other"}
    ex = ctx.patch(f"/Users/{user['id']}", patch_body(op))
    ctx.error(ex, 400, "noTarget")
    after = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.expect(_emails(after) == _emails(user), f"emails now {after.get('emails')!r}")
    ctx.focus = ex


@check(
    "patch.invalid-path",
    "A malformed path is a 400 invalidPath",
    P + "; RFC 7644 3.12",
    "HTTP 400 scimType invalidPath",
)
def invalid_path(ctx: Context) -> None:
    user = _user(ctx, "p-badpath")
    op = {"op": "replace", "path": "name..givenName", "value": "x"}
    ctx.error(ctx.patch(f"/Users/{user['id']}", patch_body(op)), 400, "invalidPath")


@check(
    "patch.readonly-id",
    "Replacing the readOnly id is a 400 mutability",
    P + "; RFC 7643 2.2; RFC 7644 3.12",
    "HTTP 400 scimType mutability; id unchanged",
)
def readonly_id(ctx: Context) -> None:
    user = _user(ctx, "p-roid")
    op = {"op": "replace", "path": "id", "value": "another-id"}
    ex = ctx.patch(f"/Users/{user['id']}", patch_body(op))
    ctx.error(ex, 400, "mutability")
    ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.focus = ex


@check(
    "patch.atomic",
    "A PATCH whose second operation fails changes nothing",
    P + "; RFC 5789 2",
    "HTTP 400, and a GET shows nickName still 'Before'",
)
def atomic(ctx: Context) -> None:
    user = _user(ctx, "p-atomic")
    ops = ({"op": "replace", "path": "nickName", "value": "Changed"}, {"op": "remove"})
    ex = ctx.patch(f"/Users/{user['id']}", patch_body(*ops))
    ctx.status(ex, 400)
    after = ctx.resource(ctx.get(f"/Users/{user['id']}"), 200)
    ctx.expect(
        after.get("nickName") == "Before",
        f"after the failed PATCH nickName is {after.get('nickName')!r}",
    )
    ctx.focus = ex


@check(
    "patch.bad-op",
    "An unknown op is a 400 error",
    P + "; RFC 7644 3.12",
    "HTTP 400",
)
def bad_op(ctx: Context) -> None:
    user = _user(ctx, "p-badop")
    ex = ctx.patch(f"/Users/{user['id']}", patch_body({"op": "frobnicate", "path": "title"}))
    ctx.error(ex, 400)


def _group_with(ctx: Context, label: str, *members: dict[str, Any]) -> dict[str, Any]:
    return ctx.new_group(label, members=[{"value": m["id"]} for m in members])


def _member_ids(group: dict[str, Any]) -> set[str]:
    return {str(m.get("value")) for m in group.get("members") or []}


@check(
    "patch.group-add-member",
    "add path members appends a member",
    P + ".1; RFC 7643 4.2",
    "200/204; the group has both members",
)
def group_add_member(ctx: Context) -> None:
    u1, u2 = ctx.new_user("pg-a1"), ctx.new_user("pg-a2")
    group = _group_with(ctx, "pg-add", u1)
    op = {"op": "add", "path": "members", "value": [{"value": u2["id"]}]}
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op))
    data = ctx.patched(ex, f"/Groups/{group['id']}", GROUP)
    if "members" not in data:
        data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    ctx.expect(_member_ids(data) == {u1["id"], u2["id"]}, f"members {data.get('members')!r}")


@check(
    "patch.group-remove-member",
    'remove members[value eq "<id>"] removes exactly that member',
    P + ".2",
    "200/204; only the other member remains",
)
def group_remove_member(ctx: Context) -> None:
    u1, u2 = ctx.new_user("pg-r1"), ctx.new_user("pg-r2")
    group = _group_with(ctx, "pg-rm", u1, u2)
    op = {"op": "remove", "path": f'members[value eq "{u1["id"]}"]'}
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op))
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    ctx.expect(_member_ids(data) == {u2["id"]}, f"members {data.get('members')!r}")
    ctx.focus = ex


@check(
    "patch.group-replace-members",
    "replace path members sets the member list",
    P + ".3",
    "200/204; exactly the new member",
)
def group_replace_members(ctx: Context) -> None:
    u1, u2 = ctx.new_user("pg-p1"), ctx.new_user("pg-p2")
    group = _group_with(ctx, "pg-repl", u1)
    op = {"op": "replace", "path": "members", "value": [{"value": u2["id"]}]}
    ex = ctx.patch(f"/Groups/{group['id']}", patch_body(op))
    ctx.status(ex, 200, 204)
    data = ctx.resource(ctx.get(f"/Groups/{group['id']}"), 200, schema=GROUP)
    ctx.expect(_member_ids(data) == {u2["id"]}, f"members {data.get('members')!r}")
    ctx.focus = ex


@check(
    "patch.change-password",
    "When changePassword is advertised, PATCH replace password is accepted and never returned",
    P + ".3; RFC 7643 5; RFC 7643 4.1.1",
    "HTTP 200/204 without 'password' in the response; a later GET does not return it either",
)
def change_password(ctx: Context) -> None:
    ctx.require_feature("changePassword", "supported")
    old, new = f"Cf-{ctx.run_id}-Old-9!", f"Cf-{ctx.run_id}-New-7!"
    user = ctx.new_user("patch-pw", password=old)
    path = f"/Users/{user['id']}"
    ex = ctx.patch(path, patch_body({"op": "replace", "path": "password", "value": new}))
    ctx.status(ex, 200, 204)
    responses = [ex, ctx.get(path), ctx.get(path, {"attributes": "password,userName"})]
    for resp in responses:
        ctx.focus = resp
        ctx.status(resp, 200, 204)
        ctx.expect(
            '"password"' not in resp.text and new not in resp.text and old not in resp.text,
            f"{resp.method} {resp.path} returned the password: {resp.summary()}",
        )
    ctx.focus = ex
