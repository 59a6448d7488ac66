"""Filtering: RFC 7644 3.4.2.2 (operators, grouping, precedence, attribute paths, errors)."""

from __future__ import annotations

from ..context import ENTERPRISE, SEARCH_REQUEST, Context
from ..model import CheckSkipped, area
from ._data import (
    LABELS,
    expect_users,
    filter_group,
    filter_users,
    label_of,
    parse_datetime,
    prefix,
    scoped,
)

check = area("filtering")
F = "RFC 7644 3.4.2.2"


def _a_b_c(ctx: Context) -> tuple[str, str, str]:
    r = ctx.run_id
    return (
        f'userName eq "{prefix(ctx)}alpha"',
        f'title sw "Ops {r}"',
        f'displayName eq "{r} D3"',
    )


@check("filter.eq", "eq on a string attribute", F, "exactly alpha")
def op_eq(ctx: Context) -> None:
    expect_users(ctx, f'title eq "Eng {ctx.run_id} lead"', {"alpha"})


@check("filter.ne", "ne excludes only the equal value", F, "every run user except alpha")
def op_ne(ctx: Context) -> None:
    expect_users(ctx, scoped(ctx, f'title ne "Eng {ctx.run_id} lead"'), set(LABELS) - {"alpha"})


@check("filter.co", "co matches a substring", F, "exactly beta")
def op_co(ctx: Context) -> None:
    expect_users(ctx, f'title co "{ctx.run_id} sta"', {"beta"})


@check("filter.sw", "sw matches a prefix", F, "beta and gamma")
def op_sw(ctx: Context) -> None:
    expect_users(ctx, f'title sw "Ops {ctx.run_id}"', {"beta", "gamma"})


@check("filter.ew", "ew matches a suffix", F, "exactly gamma")
def op_ew(ctx: Context) -> None:
    expect_users(ctx, f'title ew "{ctx.run_id} chief"', {"gamma"})


@check("filter.gt", "gt compares strings lexicographically", F, 'gamma, lit, pct, q"uote')
def op_gt(ctx: Context) -> None:
    expect_users(
        ctx, scoped(ctx, f'userName gt "{prefix(ctx)}beta"'), {"gamma", "lit", "pct", 'q"uote'}
    )


@check("filter.ge", "ge includes the equal value", F, 'beta, gamma, lit, pct, q"uote')
def op_ge(ctx: Context) -> None:
    expect_users(
        ctx,
        scoped(ctx, f'userName ge "{prefix(ctx)}beta"'),
        {"beta", "gamma", "lit", "pct", 'q"uote'},
    )


@check("filter.lt", "lt compares strings lexicographically", F, "alpha and beta")
def op_lt(ctx: Context) -> None:
    expect_users(ctx, scoped(ctx, f'userName lt "{prefix(ctx)}gamma"'), {"alpha", "beta"})


@check("filter.le", "le includes the equal value", F, "alpha, beta and gamma")
def op_le(ctx: Context) -> None:
    expect_users(ctx, scoped(ctx, f'userName le "{prefix(ctx)}gamma"'), {"alpha", "beta", "gamma"})


@check("filter.pr", "pr matches resources that have a value", F, "alpha and gamma (nickName set)")
def op_pr(ctx: Context) -> None:
    expect_users(ctx, scoped(ctx, "nickName pr"), {"alpha", "gamma"})


@check(
    "filter.precedence-or-and",
    '"a or b and c" is "a or (b and c)": and binds tighter than or',
    F,
    "alpha and gamma (a left-to-right parse gives only gamma)",
)
def precedence_or_and(ctx: Context) -> None:
    a, b, c = _a_b_c(ctx)
    expect_users(ctx, f"{a} or {b} and {c}", {"alpha", "gamma"})


@check(
    "filter.precedence-and-or",
    '"b and c or a" is "(b and c) or a"',
    F,
    "alpha and gamma (a right-to-left parse gives only gamma)",
)
def precedence_and_or(ctx: Context) -> None:
    a, b, c = _a_b_c(ctx)
    expect_users(ctx, f"{b} and {c} or {a}", {"alpha", "gamma"})


@check(
    "filter.parentheses",
    "Parentheses override precedence: (a or b) and c",
    F,
    "exactly gamma",
)
def parentheses(ctx: Context) -> None:
    a, b, c = _a_b_c(ctx)
    expect_users(ctx, f"({a} or {b}) and {c}", {"gamma"})


@check("filter.not", "not (…) negates a grouped expression", F, "exactly beta")
def op_not(ctx: Context) -> None:
    r = ctx.run_id
    expect_users(ctx, f'title sw "Ops {r}" and not (displayName eq "{r} D3")', {"beta"})


@check(
    "filter.escaped-quote",
    'A \\" inside a quoted value is a literal quote: userName eq "…q\\"uote"',
    F + "; RFC 7159 7",
    'exactly the user whose userName contains a "',
)
def escaped_quote(ctx: Context) -> None:
    expect_users(ctx, f'userName eq "{prefix(ctx)}q\\"uote"', {'q"uote'})


@check(
    "filter.co-literal-percent",
    "co treats % and _ literally (no SQL LIKE wildcards)",
    F,
    'exactly pct (title "… 5_%off"); lit ("… 50a-off") matches only if %/_ are wildcards',
)
def co_literal(ctx: Context) -> None:
    expect_users(ctx, f'title co "{ctx.run_id} 5_%"', {"pct"})


@check(
    "filter.sw-literal-underscore",
    "sw treats _ literally (no single-character wildcard)",
    F,
    'exactly pct; lit matches only if "_" is a wildcard',
)
def sw_literal(ctx: Context) -> None:
    expect_users(ctx, f'title sw "Sale {ctx.run_id} 5_"', {"pct"})


@check(
    "filter.username-case-insensitive",
    "userName (caseExact=false) matches case-insensitively",
    F + "; RFC 7643 4.1.1",
    "the upper-cased userName finds alpha",
)
def username_case(ctx: Context) -> None:
    expect_users(ctx, f'userName eq "{(prefix(ctx) + "alpha").upper()}"', {"alpha"})


@check(
    "filter.externalid-case-exact",
    "externalId (caseExact=true) matches with the exact case",
    F + "; RFC 7643 3.1",
    "exactly alpha",
)
def external_id_exact(ctx: Context) -> None:
    expect_users(ctx, f'externalId eq "{ctx.run_id}-ExtA"', {"alpha"})


@check(
    "filter.externalid-case-mismatch",
    "externalId (caseExact=true) does not match another case",
    F + "; RFC 7643 3.1",
    "nothing for the lower-cased externalId",
)
def external_id_case(ctx: Context) -> None:
    expect_users(ctx, f'externalId eq "{ctx.run_id}-exta"', set())


@check(
    "filter.value-path",
    "A value path applies both conditions to the same element",
    F,
    'exactly beta for emails[type eq "work" and value ew ".org"] (alpha has .org only at home)',
)
def value_path(ctx: Context) -> None:
    expect_users(ctx, f'emails[type eq "work" and value ew "@{ctx.run_id}.example.org"]', {"beta"})


@check(
    "filter.sub-attribute",
    "A complex sub-attribute path: name.familyName",
    F + "; RFC 7644 3.10",
    "exactly alpha",
)
def sub_attribute(ctx: Context) -> None:
    expect_users(ctx, f'name.familyName eq "Smith{ctx.run_id}"', {"alpha"})


@check(
    "filter.multi-valued-sub-attribute",
    "A sub-attribute of a multi-valued attribute: emails.value",
    F + "; RFC 7644 3.10",
    "exactly gamma",
)
def multi_valued_sub(ctx: Context) -> None:
    expect_users(ctx, f'emails.value eq "gamma@{ctx.run_id}.example.com"', {"gamma"})


@check(
    "filter.extension-urn",
    "A URN-qualified extension attribute (enterprise department)",
    F + "; RFC 7644 3.10; RFC 7643 4.3",
    "exactly beta",
)
def extension_urn(ctx: Context) -> None:
    ctx.require_enterprise()
    expect_users(ctx, f'{ENTERPRISE}:department eq "Eng {ctx.run_id}"', {"beta"})


@check(
    "filter.datetime-range",
    "gt/lt on meta.lastModified compare dateTimes",
    F + "; RFC 7643 2.3.5",
    'every run user for gt "2000-01-01T00:00:00Z"; nobody for lt that instant',
)
def datetime_range(ctx: Context) -> None:
    expect_users(ctx, scoped(ctx, 'meta.lastModified gt "2000-01-01T00:00:00Z"'), set(LABELS))
    expect_users(ctx, scoped(ctx, 'meta.lastModified lt "2000-01-01T00:00:00Z"'), set())


@check(
    "filter.datetime-exact",
    "ge/le on meta.lastModified include a resource's own timestamp",
    F + "; RFC 7643 2.3.5",
    "ge/le with beta's meta.lastModified match exactly the users at or after/before it",
)
def datetime_exact(ctx: Context) -> None:
    users = filter_users(ctx)
    stamps = {}
    for label, user in users.items():
        stamp = (user.get("meta") or {}).get("lastModified")
        if not isinstance(stamp, str):
            raise ctx.fail(f"{label} has no meta.lastModified: {user!r}"[:300])
        stamps[label] = parse_datetime(stamp)
    pivot_text = str(users["beta"]["meta"]["lastModified"])
    pivot = stamps["beta"]
    expect_users(
        ctx,
        scoped(ctx, f'meta.lastModified ge "{pivot_text}"'),
        {label for label, at in stamps.items() if at >= pivot},
    )
    expect_users(
        ctx,
        scoped(ctx, f'meta.lastModified le "{pivot_text}"'),
        {label for label, at in stamps.items() if at <= pivot},
    )


def _invalid(ctx: Context, expression: str) -> None:
    filter_users(ctx)
    ctx.error(ctx.get("/Users", {"filter": expression}), 400, "invalidFilter")


@check(
    "filter.invalid-missing-value",
    "A comparison without a value is rejected",
    F + "; RFC 7644 3.12",
    "HTTP 400 scimType invalidFilter for 'userName eq'",
)
def invalid_missing_value(ctx: Context) -> None:
    _invalid(ctx, "userName eq")


@check(
    "filter.invalid-operator",
    "An unknown operator is rejected",
    F + "; RFC 7644 3.12",
    "HTTP 400 scimType invalidFilter for 'userName zz \"x\"'",
)
def invalid_operator(ctx: Context) -> None:
    _invalid(ctx, 'userName zz "x"')


@check(
    "filter.invalid-parenthesis",
    "An unbalanced parenthesis is rejected",
    F + "; RFC 7644 3.12",
    "HTTP 400 scimType invalidFilter for '(userName eq \"x\"'",
)
def invalid_parenthesis(ctx: Context) -> None:
    _invalid(ctx, '(userName eq "x"')


@check(
    "filter.no-match",
    "A filter that matches nothing is an empty ListResponse, not an error",
    "RFC 7644 3.4.2",
    "200 ListResponse with totalResults 0",
)
def no_match(ctx: Context) -> None:
    _, data, ex = ctx.search("/Users", f'userName eq "{ctx.name("nobody")}"')
    ctx.expect(data["totalResults"] == 0, ex.summary())
    ctx.expect(not data.get("Resources"), ex.summary())


@check(
    "filter.groups-displayname",
    "Groups are filterable by displayName",
    F,
    "exactly the run's group",
)
def groups_display_name(ctx: Context) -> None:
    group = filter_group(ctx)
    ids, _ = ctx.ids("/Groups", f'displayName eq "{group["displayName"]}"')
    ctx.expect(ids == {group["id"]}, f"matched {sorted(ids)}", f"exactly {group['id']}")


@check(
    "filter.groups-member-value",
    "Groups are filterable by member: members[value eq …]",
    F,
    "exactly the run's group (alpha is its only member)",
)
def groups_member(ctx: Context) -> None:
    group = filter_group(ctx)
    alpha = filter_users(ctx)["alpha"]
    ids, _ = ctx.ids("/Groups", f'members[value eq "{alpha["id"]}"]')
    ctx.expect(ids == {group["id"]}, f"matched {sorted(ids)}", f"exactly {group['id']}")


@check(
    "filter.post-search",
    "POST /Users/.search with a SearchRequest filters like GET",
    "RFC 7644 3.4.3",
    "200 ListResponse with exactly beta and gamma",
)
def post_search(ctx: Context) -> None:
    users = filter_users(ctx)
    body = {
        "schemas": [SEARCH_REQUEST],
        "filter": f'title sw "Ops {ctx.run_id}"',
        "startIndex": 1,
        "count": 10,
    }
    ex = ctx.post("/Users/.search", body)
    data = ctx.list_response(ex)
    got = sorted(label_of(users, r.get("id")) for r in data.get("Resources") or [])
    ctx.expect(got == ["beta", "gamma"], f"matched {got}", "beta and gamma")


@check(
    "filter.root-search",
    "POST /.search at the service root searches across resource types",
    "RFC 7644 3.4.3; RFC 7644 3.4.2",
    "200 ListResponse with exactly the user and the group whose displayName matches "
    "(skipped when root search is not implemented: 501, or 404/405 for the endpoint)",
)
def root_search(ctx: Context) -> None:
    label = ctx.name("rs-")
    user = ctx.new_user("rs-user", displayName=ctx.name("rs-user"))
    group = ctx.new_group("rs-group")
    body = {
        "schemas": [SEARCH_REQUEST],
        "filter": f'displayName sw "{label}"',
        "startIndex": 1,
        "count": 10,
    }
    ex = ctx.post("/.search", body)
    if ex.status in (404, 405, 501):
        raise CheckSkipped(f"POST /.search answered {ex.status}: root search not implemented")
    data = ctx.list_response(ex)
    found = {
        r.get("id"): (r.get("meta") or {}).get("resourceType")
        for r in data.get("Resources") or []
        if isinstance(r, dict)
    }
    want = {user["id"]: "User", group["id"]: "Group"}
    ctx.expect(
        set(found) == set(want) and data["totalResults"] == 2,
        f"totalResults {data['totalResults']}, found {found}",
        f"exactly user {user['id']} and group {group['id']}",
    )
    types = sorted(str(v) for v in found.values())
    ctx.actual = f"HTTP 200; found the user and the group (meta.resourceType {types})"
