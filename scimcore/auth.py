"""Bearer authentication for an organization's tenant URL (RFC 6750, RFC 7644 2).

Two kinds of bearer token are accepted:

* the organization's **secret token**: ``scim_`` + 256 random bits, shown once when
  generated and stored only as a SHA-256 hash (HMAC-SHA-256 with a pepper when one
  is configured). Exactly one is active per organization; generating a new one
  supersedes the old in the same database transaction, and every request looks the
  hash up in the database, so the old token fails at once in every process.
* a **JWT** signed with a configured key (HS256 secret, or RS256/ES256 public key),
  with issuer, audience, expiry and an organization claim checked.

A token works only under its own organization's URL, and only while the
organization's SCIM access is on (:meth:`~scimcore.storage.base.Store.set_scim_access`:
``token revoke`` and ``orgs disable`` turn it off for both kinds of token; the
secret token's lookup and the JWT's organization lookup read it with the
organization, on every request). Every failure (missing, malformed, unknown, revoked,
other organization, unknown organization, access off) is the same 401 body, so the
answer never reveals whether an organization exists. This is the only module that
imports ``jwt``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from .errors import Unauthorized
from .storage.base import Organization, Store, TokenInfo

TOKEN_PREFIX = "scim_"
_VISIBLE_PREFIX_LEN = 12
_INVALID = "The bearer token is not valid for this tenant URL."
_USE_MARK_INTERVAL = 60.0


@dataclass(frozen=True)
class JwtSettings:
    """How to verify JWT bearer tokens; ``key`` is an HS256 secret or a PEM public key."""

    key: str
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    organization_claim: str = "org"
    leeway_seconds: int = 30


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organization, and for a JWT its ``sub`` claim (used by /Me)."""

    organization: Organization
    subject: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly generated secret token: the only moment the plaintext exists."""

    token: str
    info: TokenInfo


def sign_jwt(
    claims: dict[str, Any], private_key_pem: str, headers: dict[str, str] | None = None
) -> str:
    """An RS256-signed JWT (RFC 7519) of ``claims``: the assertion a service account or
    a certificate-holding client presents to a token endpoint (RFC 7523); ``headers``
    name the key (``kid``, or Microsoft's certificate thumbprint ``x5t``). The one place
    the core makes a JWT, as :class:`Authenticator` is the one place it reads them."""
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers=headers or {})


def hash_token(token: str, pepper: bytes | None = None) -> str:
    """The stored form of a secret token; a fast hash suffices for 256 random bits."""
    data = token.encode()
    if pepper:
        return hmac.new(pepper, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def issue_token(
    store: Store, organization: Organization, pepper: bytes | None = None
) -> IssuedToken:
    """Generate a new secret token; the previous one stops working immediately."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    info = store.set_token(organization.id, hash_token(token, pepper), token[:_VISIBLE_PREFIX_LEN])
    return IssuedToken(token, info)


#: Text shaped like a credential this service issues or accepts: a secret token
#: (``scim_`` and 43 base64url characters; 20 are enough to tell) or a JWT.
CREDENTIAL_SHAPE = re.compile(
    TOKEN_PREFIX + r"[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)


def holds_credential(text: str) -> bool:
    """Whether ``text`` (a query value, say) contains a token or a JWT: such a request
    is refused and its value never logged, whatever the parameter is called."""
    return CREDENTIAL_SHAPE.search(text) is not None


def same_secret(known: str, given: str) -> bool:
    """Constant-time equality of two strings, whatever they hold: ``compare_digest``
    raises on a ``str`` that is not ASCII, and what a client sends may be anything."""
    if known.isascii() and given.isascii():
        return hmac.compare_digest(known, given)
    return hmac.compare_digest(
        known.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


class Authenticator:
    """Maps ``(organization slug, Authorization header)`` to the organization, or 401."""

    def __init__(
        self, store: Store, *, jwt_settings: JwtSettings | None = None, pepper: bytes | None = None
    ) -> None:
        self._store = store
        self._jwt = jwt_settings
        self._pepper = pepper
        self._marked: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, organization_slug: str, authorization: str | None) -> Organization:
        return self.identify(organization_slug, authorization).organization

    def identify(self, organization_slug: str, authorization: str | None) -> Principal:
        """Like :meth:`authenticate`, also returning the JWT subject when there is one."""
        token = self._bearer(authorization)
        principal: Principal | None = None
        if token.startswith(TOKEN_PREFIX):
            org = self._by_secret(token)
            principal = Principal(org) if org else None
        elif self._jwt is not None and token.count(".") == 2:
            principal = self._by_jwt(token, self._jwt)
        if principal is None or not same_secret(principal.organization.slug, organization_slug):
            raise Unauthorized(_INVALID)
        return principal

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if not authorization:
            raise Unauthorized(
                "Missing Authorization header; send 'Authorization: Bearer <token>'."
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Unauthorized(
                "Malformed Authorization header; send 'Authorization: Bearer <token>'."
            )
        return token

    def vouches(self, authorization: str | None) -> bool:
        """Whether the header carries a credential that is no guess, told without the
        database: a secret token this process has accepted (and not seen refused
        since), or a JWT whose signature and claims verify.

        A rate limit that blocks a client address after failed authentications lets
        these through to :meth:`identify` (which still asks the database, so a revoked
        token fails at once): an organization whose IdP shares its egress address with
        a failing or hostile client keeps working, while guesses are refused without
        touching the database.
        """
        try:
            token = self._bearer(authorization)
        except Unauthorized:
            return False
        if token.startswith(TOKEN_PREFIX):
            return hash_token(token, self._pepper) in self._marked
        if self._jwt is not None and token.count(".") == 2:
            return self._claims(token, self._jwt) is not None
        return False

    def _by_secret(self, token: str) -> Organization | None:
        digest = hash_token(token, self._pepper)
        org = self._store.find_active_token(digest)
        if org is not None:
            self._mark_used(digest)
        elif self._marked:
            with self._lock:  # refused now (revoked, rotated, access off): no longer vouched
                self._marked.pop(digest, None)
        return org

    def _mark_used(self, digest: str) -> None:
        """Record last use at most once a minute per process (avoids a write per request)."""
        now = time.monotonic()
        with self._lock:
            if now - self._marked.get(digest, -_USE_MARK_INTERVAL) < _USE_MARK_INTERVAL:
                return
            self._marked[digest] = now
        self._store.mark_token_used(digest, datetime.now(UTC))

    @staticmethod
    def _claims(token: str, settings: JwtSettings) -> dict[str, Any] | None:
        """The JWT's claims when its signature, expiry, issuer and audience verify."""
        required = (
            ["exp"] + (["iss"] if settings.issuer else []) + (["aud"] if settings.audience else [])
        )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                settings.key,
                algorithms=list(settings.algorithms),
                issuer=settings.issuer,
                audience=settings.audience,
                leeway=settings.leeway_seconds,
                options={"require": required, "verify_aud": settings.audience is not None},
            )
        except jwt.PyJWTError:
            return None
        # RFC 7519 2: a NumericDate is a JSON number; PyJWT also reads "exp": "123".
        times = [claims[name] for name in ("exp", "nbf", "iat") if name in claims]
        if any(isinstance(t, bool) or not isinstance(t, int | float) for t in times):
            return None
        return claims

    def _by_jwt(self, token: str, settings: JwtSettings) -> Principal | None:
        claims = self._claims(token, settings)
        if claims is None:
            return None
        slug = claims.get(settings.organization_claim)
        if not isinstance(slug, str):
            return None
        org = self._store.get_organization(slug)
        if org is None or not org.scim_enabled:  # access turned off: no token works
            return None
        subject = claims.get("sub")
        return Principal(org, subject if isinstance(subject, str) else None)
