"""/Me: RFC 7644 3.11, the alias of the authenticated subject's resource.

The RFC allows three answers: ``501 Not Implemented`` from a server that does not
support /Me, a ``308 Permanent Redirect`` to the subject's resource, or the request
processed directly, with ``Location`` naming the aliased resource. Which resource is
"the subject's" can only be known when the bearer token names one: a JWT with a ``sub``
claim. With an opaque token the runner accepts any of the three answers; the subject
check runs only with a JWT.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from ..context import Context
from ..http import Exchange
from ..model import CheckSkipped, area

check = area("me")
M = "RFC 7644 3.11"
ALLOWED = (
    "HTTP 501 SCIM error (not supported), 308 with a Location under the base URL, "
    "or 200 with a resource and a Location header equal to its meta.location"
)


def _jwt_subject(token: str | None) -> str | None:
    """The ``sub`` claim of a JWT bearer token (not verified: only to know whom to expect)."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None


def _relative(ctx: Context, location: str) -> str | None:
    """``location`` as a path relative to the base URL, or None when it lies outside."""
    base = ctx.http.base_url
    if not location.startswith(base + "/"):
        return None
    path = location[len(base) :]
    return path if urlsplit(path).path == path else None


def _me(ctx: Context) -> tuple[Exchange, dict[str, Any] | None]:
    """GET /Me checked against the RFC's three answers; the resource for 200 and 308."""
    ex = ctx.get("/Me")
    ctx.focus = ex
    if ex.status == 501:
        ctx.error(ex, 501)
        return ex, None
    location = ex.header("Location") or ""
    if ex.status == 308:
        path = _relative(ctx, location)
        ctx.expect(path is not None, f"308 to {location!r}: {ex.summary()}", ALLOWED)
        assert path is not None
        target = ctx.get(path)
        ctx.focus = ex
        data = ctx.body(target, 200)
        return ex, data
    if ex.status == 200:
        data = ctx.body(ex, 200)
        ctx.expect(
            isinstance(data.get("id"), str) and bool(data.get("schemas")),
            f"not a resource: {ex.summary()}",
            ALLOWED,
        )
        meta_location = (data.get("meta") or {}).get("location")
        ctx.expect(
            bool(location) and (meta_location in (None, location)),
            f"Location header {location!r}, meta.location {meta_location!r}",
            "Location: the permanent location of the aliased resource (RFC 7644 3.11)",
        )
        return ex, data
    raise ctx.fail(f"GET /Me: {ex.summary()}", ALLOWED)


@check(
    "me.get",
    "GET /Me answers as the RFC allows: 501, a 308 redirect, or the subject's resource",
    M + "; RFC 7644 3.12",
    ALLOWED,
)
def me_get(ctx: Context) -> None:
    ex, data = _me(ctx)
    if data is None:
        ctx.actual = "HTTP 501 SCIM error: /Me not supported for this token"
    else:
        ctx.actual = f"HTTP {ex.status}: resource {data.get('id')}"
    ctx.focus = ex


@check(
    "me.subject",
    "With a JWT, GET /Me is the User whose id or userName the token's sub names",
    M,
    "HTTP 200 (or 308 to it) with the User whose id or userName is the sub claim; "
    "GET /Users/{id} returns the same resource",
)
def me_subject(ctx: Context) -> None:
    subject = _jwt_subject(ctx.http.token)
    if subject is None:
        raise CheckSkipped("the bearer token is not a JWT with a sub claim, so it names no user")
    ex, data = _me(ctx)
    if data is None:
        raise CheckSkipped("the server answered 501: /Me is not supported")
    ctx.expect(
        data.get("id") == subject or str(data.get("userName", "")).lower() == subject.lower(),
        f"/Me is id {data.get('id')!r} userName {data.get('userName')!r}; sub is {subject!r}",
    )
    user = ctx.body(ctx.get(f"/Users/{data['id']}"), 200)
    ctx.expect(user.get("id") == data["id"], f"GET /Users/{data['id']}: {user.get('id')!r}")
    ctx.focus = ex
    ctx.actual = f"HTTP {ex.status}: user {data['id']} ({data.get('userName')})"
