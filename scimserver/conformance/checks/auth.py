"""Authentication failures: RFC 7644 2 and 3.12, RFC 6750 3 and 5.3, RFC 7644 7.5.2."""

from __future__ import annotations

from ..context import Context
from ..http import Exchange
from ..model import area

check = area("auth")


def _unauthorized(ctx: Context, ex: Exchange) -> None:
    ctx.status(ex, 401)
    challenge = ex.header("WWW-Authenticate")
    ctx.expect(
        bool(challenge),
        f"401 without a WWW-Authenticate header: {ex.summary()}",
        "401 with a WWW-Authenticate challenge (RFC 6750 3, RFC 9110 11.6.1)",
    )


@check(
    "auth.no-token",
    "A request without credentials is refused",
    "RFC 7644 2; RFC 6750 3",
    "401 with WWW-Authenticate",
)
def no_token(ctx: Context) -> None:
    _unauthorized(ctx, ctx.get("/Users", {"count": 1}, auth=False))


@check(
    "auth.bad-token",
    "A request with an unknown bearer token is refused with a SCIM error",
    "RFC 7644 2; RFC 6750 3.1; RFC 7644 3.12",
    '401 with WWW-Authenticate and an Error body with "status": "401"',
)
def bad_token(ctx: Context) -> None:
    ex = ctx.get(
        "/Users", {"count": 1}, auth=False, headers={"Authorization": "Bearer not-a-token"}
    )
    _unauthorized(ctx, ex)
    ctx.error(ex, 401)


@check(
    "auth.non-bearer",
    "An Authorization header that is not a bearer credential is refused",
    "RFC 7644 2; RFC 6750 2.1",
    "401 with WWW-Authenticate",
)
def non_bearer(ctx: Context) -> None:
    ex = ctx.get("/Users", {"count": 1}, auth=False, headers={"Authorization": "non-token"})
    _unauthorized(ctx, ex)


@check(
    "auth.token-in-query",
    "The token in the query string (access_token=) does not authenticate",
    "RFC 7644 7.5.2; RFC 6750 5.3",
    "401: bearer tokens must not be accepted from the URI",
)
def token_in_query(ctx: Context) -> None:
    token = ctx.http.token or ""
    ex = ctx.get("/Users", {"count": 1, "access_token": token}, auth=False)
    ctx.status(ex, 401)
