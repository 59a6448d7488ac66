"""OAuth 2 client side: PKCE, the authorize URL and the token endpoint (RFC 6749, RFC 7636).

The token endpoint is called over the standard library's HTTP client with a timeout,
without following redirects, reading at most :data:`MAX_RESPONSE_BYTES`, and accepting
only a JSON object of the documented shape: a hostile or broken provider gets a clear
:class:`OAuthError`, never a crash. Error messages carry the RFC 6749 5.2 error code
and the HTTP status only: neither the request (which holds the client secret) nor the
provider's free text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ...auth import sign_jwt
from ...provisioning.errors import InvalidResponse, TransientError
from .credentials import (
    CredentialError,
    GoogleServiceAccount,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
)
from .http import exchange

#: The most a token response may hold; anything longer is refused unread.
MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 10.0
#: RFC 6749 5.2 errors that mean "this grant or client is no good": ask an admin.
AUTH_FAILURES = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
_ERROR_CODE = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$")


class OAuthError(CredentialError):
    """The token endpoint refused the request or answered nonsense.

    ``error`` is the RFC 6749 5.2 code (``invalid_grant`` ...) or one of ours
    (``http_error``, ``invalid_response``, ``unreachable``); ``auth_failure`` says the
    grant or the client was refused, so retrying cannot help.
    """

    def __init__(self, message: str, *, error: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status

    @property
    def auth_failure(self) -> bool:
        return self.error in AUTH_FAILURES or self.status == 401


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 5.1: a successful token response (tokens hidden from ``repr``)."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes
    content_type: str


class HttpTransport(Protocol):
    """POSTs a form; tests and embedders may plug in their own."""

    def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> HttpResult: ...


class UrllibTransport:
    """:class:`HttpTransport` over the connectors' client (:func:`.http.exchange`): the
    same deadline, size cap, refusal of redirects and proxy rules."""

    def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> HttpResult:
        try:
            response = exchange(
                "POST",
                url,
                body=urlencode(form).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "User-Agent": "scimserver-oauth",
                    **headers,
                },
                timeout=timeout,
                max_bytes=MAX_RESPONSE_BYTES,
            )
        except InvalidResponse:
            raise OAuthError(
                "the token endpoint's answer is too large",
                error="invalid_response",
            ) from None
        except TransientError as exc:
            raise OAuthError(
                f"the token endpoint could not be reached ({exc.message})", error="unreachable"
            ) from None
        return HttpResult(response.status, response.body, response.headers.get("content-type", ""))


def pkce_pair() -> tuple[str, str]:
    """A fresh RFC 7636 ``code_verifier`` (43 characters, 256 bits) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


#: Parameters an authorization server needs beyond RFC 6749, by its host: Google
#: issues a refresh token only for ``access_type=offline``, and again on a new consent
#: only with ``prompt=consent``; without one the integration would need a new sign-in
#: every hour.
AUTHORIZE_PARAMS: dict[str, dict[str, str]] = {
    "accounts.google.com": {"access_type": "offline", "prompt": "consent"},
}


def authorization_url(
    cred: OAuthAuthorizationCode, *, state: str, code_challenge: str, redirect_uri: str
) -> str:
    """RFC 6749 4.1.1 with RFC 7636 4.3: where to send the admin's browser."""
    params = {
        "response_type": "code",
        "client_id": cred.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if cred.scopes:
        params["scope"] = " ".join(cred.scopes)
    parts = urlsplit(cred.authorize_url)
    params.update(AUTHORIZE_PARAMS.get((parts.hostname or "").lower(), {}))
    query = "&".join(p for p in (parts.query, urlencode(params, quote_via=quote)) if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class TokenClient:
    """Calls a token endpoint for the three grants the vault uses."""

    def __init__(
        self, transport: HttpTransport | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.transport = transport or UrllibTransport()
        self.timeout = timeout

    def exchange_code(
        self, cred: OAuthAuthorizationCode, *, code: str, code_verifier: str, redirect_uri: str
    ) -> TokenResponse:
        """RFC 6749 4.1.3 with the PKCE verifier (RFC 7636 4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return self._post(cred, form)

    def refresh(self, cred: OAuthAuthorizationCode) -> TokenResponse:
        """RFC 6749 6."""
        if not cred.refresh_token:
            raise OAuthError("there is no refresh token", error="invalid_grant")
        form = {"grant_type": "refresh_token", "refresh_token": cred.refresh_token}
        return self._post(cred, form)

    def jwt_bearer(
        self,
        cred: GoogleServiceAccount,
        *,
        subject: str,
        scopes: tuple[str, ...],
        now: datetime,
    ) -> TokenResponse:
        """RFC 7523 2.1: a token for ``subject`` from a signed assertion (a Google
        service account acting, by domain-wide delegation, for a user of its domain)."""
        issued = int(now.timestamp())
        claims = {
            "iss": cred.client_email,
            "sub": subject,
            "scope": " ".join(scopes),
            "aud": cred.token_uri,
            "iat": issued,
            "exp": issued + 3600,
        }
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": sign_jwt(claims, cred.private_key, {"kid": cred.private_key_id}),
        }
        return _parse(self.transport.post_form(cred.token_uri, form, {}, self.timeout))

    def client_credentials(self, cred: OAuthClientCredentials) -> TokenResponse:
        """RFC 6749 4.4.2."""
        form = {"grant_type": "client_credentials"}
        if cred.scopes:
            form["scope"] = " ".join(cred.scopes)
        return self._post(cred, form)

    def _post(
        self, cred: OAuthAuthorizationCode | OAuthClientCredentials, form: dict[str, str]
    ) -> TokenResponse:
        headers: dict[str, str] = {}
        if cred.token_auth_method == "private_key_jwt":
            # RFC 7523 2.2: the client proves itself with an assertion signed by its
            # certificate's key (Microsoft names the certificate by its x5t thumbprint).
            now = int(time.time())
            claims = {
                "aud": cred.token_url,
                "iss": cred.client_id,
                "sub": cred.client_id,
                "jti": secrets.token_urlsafe(16),
                "nbf": now,
                "exp": now + 600,
            }
            thumbprint = getattr(cred, "certificate_thumbprint", None) or ""
            form = {
                **form,
                "client_id": cred.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": sign_jwt(claims, cred.client_secret, {"x5t": thumbprint}),
            }
        elif cred.token_auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts form-urlencoded before Basic encoding.
            pair = f"{_form_quote(cred.client_id)}:{_form_quote(cred.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": cred.client_id, "client_secret": cred.client_secret}
        result = self.transport.post_form(cred.token_url, form, headers, self.timeout)
        return _parse(result)


def _form_quote(value: str) -> str:
    return urlencode({"": value})[1:]


def _parse(result: HttpResult) -> TokenResponse:
    if len(result.body) > MAX_RESPONSE_BYTES:
        raise OAuthError(
            "the token endpoint's answer is too large",
            error="invalid_response",
            status=result.status,
        )
    try:
        doc = json.loads(result.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    if result.status != 200:
        code = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(code, str) and _ERROR_CODE.match(code):
            raise OAuthError(
                f"the token endpoint refused the request: {code} (HTTP {result.status})",
                error=code,
                status=result.status,
            )
        raise OAuthError(
            f"the token endpoint answered HTTP {result.status}",
            error="http_error",
            status=result.status,
        )
    if not isinstance(doc, dict):
        raise OAuthError(
            "the token endpoint did not answer with a JSON object", error="invalid_response"
        )
    access = doc.get("access_token")
    token_type = doc.get("token_type", "Bearer")
    expires = doc.get("expires_in")
    refresh = doc.get("refresh_token")
    scope = doc.get("scope")
    if isinstance(expires, str) and expires.isdigit():
        expires = int(expires)
    if (
        not isinstance(access, str)
        or not access
        or not isinstance(token_type, str)
        or (expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)))
        or (refresh is not None and not isinstance(refresh, str))
        or (scope is not None and not isinstance(scope, str))
    ):
        raise OAuthError(
            "the token endpoint's answer is not a valid token response (RFC 6749 5.1)",
            error="invalid_response",
        )
    if token_type.lower() != "bearer":
        raise OAuthError(
            "the token endpoint issued a token type other than Bearer", error="invalid_response"
        )
    if expires is not None:
        expires = max(0, min(expires, 10 * 365 * 24 * 3600))
    return TokenResponse(access, "Bearer", expires, refresh or None, scope)
