"""Request authenticators handed to connectors in :attr:`ConnectorContext.auth`.

Each keeps its secret in a private attribute and never shows it (``repr`` prints
only the kind). :func:`auth_from_credential` adapts the typed credentials of the
credential vault (``ApiKey``, ``Bearer``, ``Basic``, OAuth ...) to these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from ...auth import same_secret
from ...provisioning.connector import Auth, HttpRequest

#: Header carrying a webhook signature: ``t=<unix time>,v1=<hex HMAC-SHA256>``.
SIGNATURE_HEADER = "X-Scimserver-Signature"


class NoAuth:
    def apply(self, request: HttpRequest) -> None:
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerAuth:
    """``Authorization: Bearer <token>`` (RFC 6750); SCIM bearer tokens, OAuth access tokens."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a bearer token must not be empty")
        self._token = token

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    def __repr__(self) -> str:
        return "BearerAuth(<secret>)"


class ApiKeyAuth:
    """An API key in a header: ``Authorization: SSWS <key>``, ``X-Api-Key: <key>`` ..."""

    def __init__(self, key: str, *, header: str = "Authorization", scheme: str | None = None):
        self._key = key
        self.header = header
        self.scheme = scheme

    def apply(self, request: HttpRequest) -> None:
        value = f"{self.scheme} {self._key}" if self.scheme else self._key
        request.headers[self.header] = value

    def __repr__(self) -> str:
        return f"ApiKeyAuth(header={self.header!r}, <secret>)"


class BasicAuth:
    """RFC 7617 Basic; legacy targets only."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    def apply(self, request: HttpRequest) -> None:
        raw = f"{self.username}:{self._password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, <secret>)"


class HmacSigner:
    """Signs the body: ``X-Scimserver-Signature: t=<time>,v1=HMAC-SHA256(key, "<t>.<body>")``.

    The receiver recomputes the HMAC with the shared secret and rejects old ``t``
    values, so a captured request cannot be replayed later.
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a signing secret must not be empty")
        self._secret = secret.encode()

    def apply(self, request: HttpRequest) -> None:
        stamp = str(int(time.time()))
        request.headers[SIGNATURE_HEADER] = (
            f"t={stamp},v1={sign(self._secret, stamp, request.body)}"
        )

    def __repr__(self) -> str:
        return "HmacSigner(<secret>)"


def sign(secret: bytes, stamp: str, body: bytes | None) -> str:
    return hmac.new(secret, stamp.encode() + b"." + (body or b""), hashlib.sha256).hexdigest()


def verify_signature(secret: str, header: str, body: bytes, *, max_age: float = 300) -> bool:
    """Check a :data:`SIGNATURE_HEADER` value (for receivers and tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > max_age:
        return False
    return same_secret(sign(secret.encode(), stamp, body), given)


def auth_from_credential(credential: Any) -> Auth:
    """The authenticator for a credential of the vault, by its shape.

    Accepts the vault's typed credentials without importing them, so connectors do not
    depend on the vault: anything with ``access_token`` (OAuth, refreshed by the vault)
    or ``token`` is a bearer; ``api_key`` (+ ``header_name``/``scheme``) an API key;
    ``username`` + ``password`` Basic; ``secret`` an HMAC signing key.
    """
    if isinstance(credential, Auth):
        return credential
    access = getattr(credential, "access_token", None) or getattr(credential, "token", None)
    if callable(access):
        access = access()
    if isinstance(access, str) and access:
        return BearerAuth(_reveal(access))
    key = getattr(credential, "api_key", None)
    if key:
        return ApiKeyAuth(
            _reveal(key),
            header=getattr(credential, "header_name", None) or "Authorization",
            scheme=getattr(credential, "scheme", None),
        )
    user, password = getattr(credential, "username", None), getattr(credential, "password", None)
    if user and password:
        return BasicAuth(str(user), _reveal(password))
    secret = getattr(credential, "secret", None)
    if secret:
        return HmacSigner(_reveal(secret))
    raise ValueError(f"no authenticator for a {type(credential).__name__} credential")


def _reveal(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)
