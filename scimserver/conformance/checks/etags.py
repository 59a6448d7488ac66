"""Resource versions: RFC 7644 3.14 (ETag, If-Match, If-None-Match; RFC 7232), when
the ServiceProviderConfig advertises ``etag.supported``."""

from __future__ import annotations

from typing import Any

from ..context import USER, Context, patch_body
from ..model import area

check = area("etags")
E = "RFC 7644 3.14"


def _versioned_user(ctx: Context, label: str) -> tuple[dict[str, Any], str]:
    ctx.require_feature("etag", "supported")
    user = ctx.new_user(label, nickName="Before")
    ex = ctx.get(f"/Users/{user['id']}")
    data = ctx.resource(ex, 200)
    etag = ex.header("ETag")
    ctx.expect(bool(etag), f"GET without an ETag header: {ex.summary()}", "an ETag header")
    assert etag is not None
    return data, etag


@check(
    "etag.header",
    "GET returns an ETag header equal to meta.version",
    E + "; RFC 7643 3.1",
    "ETag header present and equal to meta.version",
)
def header(ctx: Context) -> None:
    data, etag = _versioned_user(ctx, "etag-h")
    version = (data.get("meta") or {}).get("version")
    ctx.expect(version == etag, f"meta.version {version!r}, ETag {etag!r}")


@check(
    "etag.if-none-match",
    "GET with If-None-Match of the current version answers 304",
    E + "; RFC 7232 3.2",
    "HTTP 304 Not Modified",
)
def if_none_match(ctx: Context) -> None:
    data, etag = _versioned_user(ctx, "etag-inm")
    ctx.status(ctx.get(f"/Users/{data['id']}", headers={"If-None-Match": etag}), 304)


@check(
    "etag.if-match-stale",
    "PATCH with a stale If-Match answers 412 and changes nothing",
    E + "; RFC 7232 3.1; RFC 7644 3.12",
    "HTTP 412; nickName unchanged",
)
def if_match_stale(ctx: Context) -> None:
    data, _ = _versioned_user(ctx, "etag-im")
    op = {"op": "replace", "path": "nickName", "value": "Changed"}
    ex = ctx.patch(
        f"/Users/{data['id']}", patch_body(op), headers={"If-Match": 'W/"stale-version"'}
    )
    ctx.error(ex, 412)
    after = ctx.resource(ctx.get(f"/Users/{data['id']}"), 200)
    ctx.expect(after.get("nickName") == "Before", f"nickName {after.get('nickName')!r}")
    ctx.focus = ex


@check(
    "etag.if-match-current",
    "PUT with the current If-Match succeeds and yields a new version",
    E + "; RFC 7232 3.1",
    "HTTP 200 with an ETag different from the previous one",
)
def if_match_current(ctx: Context) -> None:
    data, etag = _versioned_user(ctx, "etag-ok")
    body = {"schemas": [USER], "userName": data["userName"], "nickName": "After"}
    ex = ctx.put(f"/Users/{data['id']}", body, headers={"If-Match": etag})
    ctx.resource(ex, 200)
    new = ex.header("ETag")
    ctx.expect(bool(new) and new != etag, f"ETag before {etag!r}, after {new!r}")


@check(
    "etag.post-header",
    "POST returns an ETag header equal to the new resource's meta.version",
    E + "; RFC 7644 3.3",
    "HTTP 201 with an ETag header equal to meta.version",
)
def post_header(ctx: Context) -> None:
    ctx.require_feature("etag", "supported")
    ex = ctx.post("/Users", {"schemas": [USER], "userName": ctx.name("etag-post")})
    data = ctx.resource(ex, 201)
    etag = ex.header("ETag")
    version = (data.get("meta") or {}).get("version")
    ctx.expect(bool(etag), f"POST without an ETag header: {ex.summary()}", "an ETag header")
    ctx.expect(version == etag, f"meta.version {version!r}, ETag {etag!r}")
    ctx.actual = f"HTTP 201; ETag {etag}"


def _patch_nickname(ctx: Context, rid: str, value: str) -> tuple[str, str]:
    """PATCH nickName; the response's ETag (and, with a body, its meta.version)."""
    ex = ctx.patch(
        f"/Users/{rid}", patch_body({"op": "replace", "path": "nickName", "value": value})
    )
    ctx.status(ex, 200, 204)
    etag = ex.header("ETag")
    ctx.expect(bool(etag), f"PATCH without an ETag header: {ex.summary()}", "an ETag header")
    assert etag is not None
    if ex.status == 200:
        version = (ctx.resource(ex, 200).get("meta") or {}).get("version")
        ctx.expect(version == etag, f"meta.version {version!r}, ETag {etag!r}")
    return etag, ex.summary(120)


@check(
    "etag.patch-header",
    "PATCH returns the new version as ETag header (and meta.version)",
    E + "; RFC 7644 3.5.2",
    "HTTP 200/204 with an ETag header different from the version before; "
    "with a body, meta.version equals it",
)
def patch_header(ctx: Context) -> None:
    data, etag = _versioned_user(ctx, "etag-patch")
    new, _ = _patch_nickname(ctx, data["id"], "Changed")
    ctx.expect(new != etag, f"ETag before {etag!r}, after the PATCH {new!r}")
    ctx.actual = f"ETag {etag} before, {new} after the PATCH"


@check(
    "etag.if-none-match-after-patch",
    "After a PATCH, If-None-Match with the old version returns the resource, with the new one 304",
    E + "; RFC 7232 3.2",
    "GET with the pre-PATCH ETag: 200 with the new ETag and value; with the new ETag: 304",
)
def if_none_match_after_patch(ctx: Context) -> None:
    data, old = _versioned_user(ctx, "etag-inm2")
    new, _ = _patch_nickname(ctx, data["id"], "Changed")
    ex = ctx.get(f"/Users/{data['id']}", headers={"If-None-Match": old})
    after = ctx.resource(ex, 200)
    ctx.expect(
        after.get("nickName") == "Changed" and ex.header("ETag") == new,
        f"nickName {after.get('nickName')!r}, ETag {ex.header('ETag')!r} (PATCH answered {new!r})",
    )
    ex = ctx.get(f"/Users/{data['id']}", headers={"If-None-Match": new})
    ctx.status(ex, 304)
    ctx.actual = f"old ETag {old}: 200; new ETag {new}: 304"
