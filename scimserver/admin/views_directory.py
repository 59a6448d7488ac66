"""Users and Groups: searchable, sortable lists with keyset paging, and detail pages.

Lists run the store query the SCIM API runs (``Query(keyset=True, after=...)``, the
RFC 9865 cursor path), so page 10,000 of a million users costs what page 1 does; the
"Next" link carries the opaque position of the last row shown.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import NotFound, Organization, ScimError
from scimcore.pagination import decode_cursor, encode_cursor, query_fingerprint
from scimcore.schema.attributes import ResourceType
from scimcore.storage.base import Query

from .blueprint import bp, console, login_required, organization, page
from .search import SORTABLE, parse_search, parse_sort

PAGE_SIZE = 50
#: A search counts its matches up to this many; past it the page says "more than".
#: Counting every match of a broad word would read most of a million users.
TOTAL_LIMIT = 10_000


def _resource_type(type_id: str) -> ResourceType:
    for rt in console().service.resource_types.values():
        if rt.id == type_id:
            return rt
    abort(404)


def _listing(org: Organization, rt: ResourceType, endpoint: str) -> dict[str, Any]:
    q = request.args.get("q", "")[:2000]
    sort_key = request.args.get("sort", "")
    if sort_key not in SORTABLE.get(rt.id, {}):
        sort_key = ""
    order = "desc" if request.args.get("order") == "desc" else "asc"
    search = parse_search(q, rt, org.profile)
    context: dict[str, Any] = {
        "q": q,
        "sort": sort_key,
        "order": order,
        "search": search,
        "rows": [],
        "total": None,
        "total_is_more": False,
        "next_url": None,
        "first_url": None,
        "sortable": SORTABLE.get(rt.id, {}),
    }
    if search.error:
        return context
    fingerprint = query_fingerprint("admin", rt.id, q, sort_key, order)
    after_raw = request.args.get("after", "")
    try:
        after = decode_cursor(after_raw, fingerprint) if after_raw else None
    except ScimError:
        after = None
    query = Query(
        filter=search.filter,
        sort=parse_sort(sort_key, rt, order == "desc"),
        count=PAGE_SIZE,
        relations=False,
        keyset=True,
        after=after,
        total_limit=TOTAL_LIMIT + 1,
    )
    c = console()
    with c.store.session(org.id) as session:
        result = session.query(rt.id, query)
    args: dict[str, Any] = {"slug": org.slug, "q": q or None, "sort": sort_key or None}
    if sort_key:
        args["order"] = order
    more = result.total > TOTAL_LIMIT and search.filter is not None
    context.update(
        rows=result.resources,
        total=TOTAL_LIMIT if more else result.total,
        total_is_more=more,
    )
    if result.next is not None:
        context["next_url"] = url_for(
            endpoint, **args, after=encode_cursor(result.next, fingerprint)
        )
    if after is not None:
        context["first_url"] = url_for(endpoint, **args)
    context["sort_url"] = lambda key: url_for(
        endpoint,
        slug=org.slug,
        q=q or None,
        sort=key,
        order="desc" if key == sort_key and order == "asc" else "asc",
    )
    return context


@bp.get("/o/<slug>/users")
@login_required
def users(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    rt = _resource_type("User")
    return page("users.html", org=org, section="users", **_listing(org, rt, "admin.users"))


@bp.get("/o/<slug>/users/<user_id>")
@login_required
def user_detail(slug: str, user_id: str) -> ResponseReturnValue:
    org = organization(slug)
    c = console()
    try:
        with c.store.session(org.id) as session:
            user = session.get("User", user_id, relations=True)
    except NotFound:
        abort(404)
    with c.accounts.accounts(org.id, readonly=True) as accounts:
        integrations = {i.id: i for i in accounts.integrations()}
        linked = accounts.find_accounts(by_user=[(i, user_id) for i in integrations])
    return page(
        "user.html",
        org=org,
        section="users",
        user=user,
        accounts=[(integrations[a.integration_id], a) for a in linked],
        enterprise=user.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", {}),
    )


#: Members listed on a group's page, each with the name it has now.
SHOWN_MEMBERS = 500


@bp.get("/o/<slug>/groups")
@login_required
def groups(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    rt = _resource_type("Group")
    return page("groups.html", org=org, section="groups", **_listing(org, rt, "admin.groups"))


@bp.get("/o/<slug>/groups/<group_id>")
@login_required
def group_detail(slug: str, group_id: str) -> ResponseReturnValue:
    org = organization(slug)
    try:
        with console().store.session(org.id) as session:
            group = session.get("Group", group_id, relations=True)
    except NotFound:
        abort(404)
    members = group.get("members") or []
    shown = members[:SHOWN_MEMBERS]
    sql = console().parts.sql
    names = (
        sql.directory_views.current_names(org.id, [str(m.get("value")) for m in shown])
        if sql is not None
        else {}
    )
    return page(
        "group.html",
        org=org,
        section="groups",
        group=group,
        members=[
            {**m, "name": names[m["value"]].name, "display": names[m["value"]].shown}
            if m.get("value") in names
            else m
            for m in shown
        ],
        member_count=len(members),
    )
