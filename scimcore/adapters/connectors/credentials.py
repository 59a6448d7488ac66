"""The credential vault: connector secrets, encrypted and write-only (docs/connectors.md).

A connector's secret material is one of six typed, frozen credentials. The vault
stores it as one Fernet token (authenticated encryption under the configured
:class:`~scimcore.accounts.KeyRing`; the keys never touch the database) of a JSON
document that names the integration it belongs to, so a ciphertext copied onto another
row is refused. Only non-secret parameters (client_id, URLs, scopes) and hints (the
last four characters of a long API key, "set") are stored in clear.

Write-only: :meth:`CredentialVault.describe` never decrypts, no ``repr`` shows a secret,
errors and logs name integrations and kinds, never values. :meth:`CredentialVault.get`
decrypts at the last moment, for the connector about to call the service.

OAuth access tokens refresh themselves (:meth:`CredentialVault.access_token`); when the
provider refuses the refresh token or the client, the integration is parked as
``needs_reauth`` and :class:`ReauthRequired` is raised instead of retrying.

One module, though long: the six credential kinds, their validation and the vault
that seals, describes and refreshes them are one contract (what may be stored, what
may be shown) and change together.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias
from urllib.parse import urlsplit

from ...accounts.keyring import KeyRing, KeyRingError
from ...accounts.vault_store import (
    CREDENTIAL_KINDS,
    CredentialKind,
    CredentialStore,
    CredentialWriter,
    MemoryCredentialStore,
    NewCredential,
    StoredCredential,
)
from ...errors import NotFound
from .totp import TotpSecretError, decode_base32_secret, totp

if TYPE_CHECKING:
    from .oauth import TokenClient, TokenResponse

__all__ = [
    "CREDENTIAL_KINDS",
    "ApiKey",
    "Basic",
    "BearerToken",
    "Credential",
    "CredentialError",
    "CredentialInfo",
    "CredentialKind",
    "CredentialStore",
    "CredentialVault",
    "CredentialWriter",
    "GoogleServiceAccount",
    "IdPassword",
    "MemoryCredentialStore",
    "OAuthAuthorizationCode",
    "OAuthClientCredentials",
    "ReauthRequired",
    "StoredCredential",
]

log = logging.getLogger("scimcore.credentials")


#: Refresh an OAuth access token this long before it expires.
REFRESH_MARGIN = timedelta(seconds=60)
#: Secrets at least this long get a "…abcd" hint; shorter ones only "set".
HINT_MIN_LENGTH = 16

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class CredentialError(Exception):
    """A credential cannot be stored, read or used. The message never holds a secret."""


class ReauthRequired(CredentialError):
    """The service refused the credential; the integration is now ``needs_reauth``."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _require(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CredentialError(f"{name} is required")
    if any(c in value for c in "\r\n\0"):
        raise CredentialError(f"{name} must not contain line breaks")


def _url(name: str, value: str) -> None:
    """Secrets go to this URL: https, or http only to this machine (development, tests)."""
    _require(name, value)
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return
    raise CredentialError(f"{name} must be an https:// URL")


def _hint(secret: str | None) -> str:
    if not secret:
        return "not set"
    return f"…{secret[-4:]}" if len(secret) >= HINT_MIN_LENGTH else "set"


class _Credential:
    """Shared behaviour: a ``repr`` without secrets, and the public/secret split."""

    kind: ClassVar[CredentialKind]
    #: Fields whose values are secret: encrypted at rest, never shown.
    secret_fields: ClassVar[tuple[str, ...]]
    #: Secrets identified by their last four characters (API keys, tokens).
    tail_hinted: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in self.secret_fields:
                shown.append(f"{f.name}=<{'set' if value else 'not set'}>")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    __str__ = __repr__

    def public_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name in self.secret_fields:
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def secret_params(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in self.secret_fields}

    def hints(self) -> dict[str, str]:
        """What an admin may see: the public parameters and "set"/"…abcd" per secret."""
        out = {
            k: ", ".join(v) if isinstance(v, list) else str(v)
            for k, v in self.public_params().items()
            if v not in (None, "", [])
        }
        for name in self.secret_fields:
            value = getattr(self, name)
            out[name] = (
                _hint(value) if name in self.tail_hinted else ("set" if value else "not set")
            )
        return out


@dataclass(frozen=True, repr=False)
class ApiKey(_Credential):
    """An API key sent in ``header``, optionally after a scheme (``SSWS``, ``Bearer``)."""

    kind: ClassVar[CredentialKind] = "api_key"
    secret_fields: ClassVar[tuple[str, ...]] = ("value",)
    tail_hinted: ClassVar[tuple[str, ...]] = ("value",)
    header: str
    value: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.header or ""):
            raise CredentialError("header must be an HTTP header name")
        _require("value", self.value)
        if self.prefix and not _HEADER_NAME.match(self.prefix):
            raise CredentialError("prefix must be a single word such as SSWS or Bearer")

    def headers(self) -> dict[str, str]:
        return {self.header: f"{self.prefix} {self.value}" if self.prefix else self.value}

    # The names scimcore.adapters.connectors.auth.auth_from_credential looks for.
    @property
    def api_key(self) -> str:
        return self.value

    @property
    def header_name(self) -> str:
        return self.header

    @property
    def scheme(self) -> str | None:
        return self.prefix or None


@dataclass(frozen=True, repr=False)
class BearerToken(_Credential):
    """A long-lived token sent as ``Authorization: Bearer`` (e.g. a SCIM target's)."""

    kind: ClassVar[CredentialKind] = "bearer"
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    tail_hinted: ClassVar[tuple[str, ...]] = ("token",)
    token: str

    def __post_init__(self) -> None:
        _require("token", self.token)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True, repr=False)
class Basic(_Credential):
    """HTTP Basic (legacy targets only; RFC 7617)."""

    kind: ClassVar[CredentialKind] = "basic"
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    username: str
    password: str

    def __post_init__(self) -> None:
        _require("username", self.username)
        if ":" in self.username:
            raise CredentialError("a Basic username cannot contain ':'")
        _require("password", self.password)


@dataclass(frozen=True, repr=False)
class IdPassword(_Credential):
    """The login of an admin account (form-based services), with an optional RFC 6238
    seed (base32) for its second factor: the code is computed when it is needed."""

    kind: ClassVar[CredentialKind] = "id_password"
    secret_fields: ClassVar[tuple[str, ...]] = ("password", "totp_secret")
    username: str
    password: str
    totp_secret: str | None = None

    def __post_init__(self) -> None:
        _require("username", self.username)
        _require("password", self.password)
        if self.totp_secret is not None:
            try:
                decode_base32_secret(self.totp_secret)
            except TotpSecretError as exc:
                raise CredentialError(str(exc)) from None

    def current_totp(self, at: datetime | None = None) -> str:
        """The 6-digit code (SHA-1, 30 s) for ``at`` (default: now)."""
        if self.totp_secret is None:
            raise CredentialError("this login has no TOTP secret")
        moment = (at or _utcnow()).timestamp()
        return totp(decode_base32_secret(self.totp_secret), moment)


#: How a client proves itself at the token endpoint; ``private_key_jwt``: an assertion
#: signed with a certificate's key (``client_secret`` then holds the PEM key).
TokenAuthMethod: TypeAlias = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]


def _oauth_checks(cred: OAuthClientCredentials | OAuthAuthorizationCode) -> None:
    _url("token_url", cred.token_url)
    _require("client_id", cred.client_id)
    if cred.token_auth_method == "private_key_jwt":  # a PEM key spans lines
        if not isinstance(cred.client_secret, str) or not cred.client_secret.strip():
            raise CredentialError("client_secret is required")
    else:
        _require("client_secret", cred.client_secret)
    if cred.token_auth_method not in (
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ):
        raise CredentialError(
            "token_auth_method must be client_secret_basic, client_secret_post or private_key_jwt"
        )
    if cred.token_auth_method == "private_key_jwt":
        if "PRIVATE KEY-----" not in cred.client_secret:
            raise CredentialError("client_secret must be the certificate's PEM private key")
        thumbprint = getattr(cred, "certificate_thumbprint", None)
        if not thumbprint or not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", thumbprint):
            raise CredentialError("certificate_thumbprint must be the certificate's x5t")
    for scope in cred.scopes:
        if not scope or any(c.isspace() or c in '"\\' for c in scope):
            raise CredentialError("each scope must be one word (RFC 6749 3.3)")


@dataclass(frozen=True, repr=False)
class OAuthClientCredentials(_Credential):
    """RFC 6749 4.4: no user present; tokens are fetched when needed, kept in memory."""

    kind: ClassVar[CredentialKind] = "oauth_client_credentials"
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    token_auth_method: TokenAuthMethod = "client_secret_basic"
    #: With ``private_key_jwt``: the certificate's SHA-1 thumbprint, base64url (x5t).
    certificate_thumbprint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(self.scopes))
        _oauth_checks(self)


@dataclass(frozen=True, repr=False)
class OAuthAuthorizationCode(_Credential):
    """RFC 6749 4.1 with PKCE: the client, then the tokens the "Integrate" flow got."""

    kind: ClassVar[CredentialKind] = "oauth_authorization_code"
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret", "access_token", "refresh_token")
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    token_auth_method: TokenAuthMethod = "client_secret_basic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(self.scopes))
        _url("authorize_url", self.authorize_url)
        _oauth_checks(self)

    @property
    def authorized(self) -> bool:
        return bool(self.access_token or self.refresh_token)


@dataclass(frozen=True, repr=False)
class GoogleServiceAccount(_Credential):
    """A Google service account's key (the fields of its JSON key file) and the
    administrator it acts as for the Directory API; with domain-wide delegation it can
    also act as each user (Gmail's per-user settings). ``scopes``: those the
    delegation grants, which every token asks for."""

    kind: ClassVar[CredentialKind] = "google_service_account"
    secret_fields: ClassVar[tuple[str, ...]] = ("private_key",)
    client_email: str
    private_key_id: str
    private_key: str
    subject: str
    token_uri: str = "https://oauth2.googleapis.com/token"
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(self.scopes))
        for name in ("client_email", "subject"):
            value = getattr(self, name)
            if not isinstance(value, str) or "@" not in value or len(value) > 320:
                raise CredentialError(f"{name} must be an e-mail address")
        _require("private_key_id", self.private_key_id)
        if not isinstance(self.private_key, str) or "PRIVATE KEY-----" not in self.private_key:
            raise CredentialError("private_key must be the PEM key of the key file")
        _url("token_uri", self.token_uri)

    @classmethod
    def from_key_file(
        cls, text: str, *, subject: str, scopes: tuple[str, ...] = ()
    ) -> GoogleServiceAccount:
        """From the JSON key file Google gives for a service account."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise CredentialError("the key file is not JSON") from None
        if not isinstance(doc, dict) or doc.get("type") != "service_account":
            raise CredentialError("the key file is not a service account key (type)")
        values = {k: doc.get(k) for k in ("client_email", "private_key_id", "private_key")}
        if not all(isinstance(v, str) and v for v in values.values()):
            raise CredentialError("the key file lacks client_email, private_key_id or private_key")
        token_uri = doc.get("token_uri") or "https://oauth2.googleapis.com/token"
        return cls(
            client_email=str(values["client_email"]),
            private_key_id=str(values["private_key_id"]),
            private_key=str(values["private_key"]),
            subject=subject,
            token_uri=str(token_uri),
            scopes=scopes,
        )


Credential: TypeAlias = (
    ApiKey
    | BearerToken
    | Basic
    | IdPassword
    | OAuthClientCredentials
    | OAuthAuthorizationCode
    | GoogleServiceAccount
)
_CLASSES: dict[str, type[Credential]] = {
    c.kind: c
    for c in (
        ApiKey,
        BearerToken,
        Basic,
        IdPassword,
        OAuthClientCredentials,
        OAuthAuthorizationCode,
        GoogleServiceAccount,
    )
}


def _build(kind: str, public: Mapping[str, Any], secrets: Mapping[str, Any]) -> Credential:
    cls = _CLASSES[kind]
    values: dict[str, Any] = {**public, **secrets}
    if "scopes" in values:
        values["scopes"] = tuple(values["scopes"] or ())
    if isinstance(values.get("expires_at"), str):
        values["expires_at"] = datetime.fromisoformat(values["expires_at"])
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about an integration's credential: never a secret."""

    integration_id: int
    kind: CredentialKind | None
    hints: Mapping[str, str]
    access_token_expires_at: datetime | None = None
    key_id: str | None = None
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def is_set(self) -> bool:
        return self.kind is not None


class CredentialVault:
    """Stores, describes, hands out and refreshes connector credentials."""

    def __init__(
        self,
        store: CredentialStore,
        keyring: KeyRing | None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        token_client: TokenClient | None = None,
        refresh_margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        from .oauth import TokenClient

        self.store = store
        self.keyring = keyring
        self.clock = clock
        self.token_client = token_client or TokenClient()
        self.refresh_margin = refresh_margin
        # Client-credentials access tokens live in memory only.
        self._cache: dict[int, tuple[str, datetime | None, datetime]] = {}
        #: Service-account tokens by (integration, subject, scopes), in memory only.
        self._delegated: dict[
            tuple[int, str, tuple[str, ...]], tuple[str, datetime | None, datetime]
        ] = {}
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CredentialVault({self.keyring!r})"

    # -- writing ----------------------------------------------------------------

    def put(self, integration_id: int, credential: Credential) -> CredentialInfo:
        """Encrypt and store ``credential`` (replacing any). A stored OAuth authorization
        code credential without tokens leaves the integration ``pending_auth``; any other
        clears ``needs_reauth``/``pending_auth`` back to ``active``."""
        if type(credential) not in _CLASSES.values():
            raise CredentialError("not a credential type the vault knows")
        row = self._write(integration_id, credential)
        pending = isinstance(credential, OAuthAuthorizationCode) and not credential.authorized
        self.store.set_status(
            integration_id,
            "pending_auth" if pending else "active",
            only_from=("active", "needs_reauth", "pending_auth"),
        )
        with self._cache_lock:
            self._cache.pop(integration_id, None)
        log.info("stored a %s credential for integration %s", credential.kind, integration_id)
        return self._info(row)

    def store_tokens(self, integration_id: int, tokens: TokenResponse) -> CredentialInfo:
        """Save the tokens an authorization code grant returned (the OAuth callback)."""
        current = self.get(integration_id)
        if not isinstance(current, OAuthAuthorizationCode):
            raise CredentialError(
                f"integration {integration_id} is not set up for the OAuth authorization code flow"
            )
        return self.put(integration_id, self._with_tokens(current, tokens))

    def delete(self, integration_id: int) -> bool:
        with self._cache_lock:
            self._cache.pop(integration_id, None)
        deleted = self.store.delete(integration_id)
        if deleted:
            log.info("deleted the credential of integration %s", integration_id)
        return deleted

    def mark_needs_reauth(self, integration_id: int, reason: str) -> None:
        """Park the integration: the service refused its credential. ``reason`` is logged
        and must not hold a secret (an error code, an HTTP status)."""
        with self._cache_lock:
            self._cache.pop(integration_id, None)
        self.store.set_status(integration_id, "needs_reauth")
        log.warning("integration %s needs re-authorization: %s", integration_id, reason)

    # -- reading ----------------------------------------------------------------

    def describe(self, integration_id: int) -> CredentialInfo:
        """Kind and hints; never decrypts, so it works even with a wrong key."""
        row = self.store.load(integration_id)
        if row is None:
            return CredentialInfo(integration_id, None, {"credential": "not set"})
        return self._info(row)

    def get(self, integration_id: int) -> Credential:
        """The decrypted credential. Call it just before use; do not keep it."""
        row = self.store.load(integration_id)
        if row is None:
            raise CredentialError(f"integration {integration_id} has no stored credential")
        return self._decrypt(row)

    def access_token(self, integration_id: int) -> str:
        """A usable access token: the stored one, or a refreshed one when it is (about to
        be) expired, or a fresh client-credentials token. Raises :class:`ReauthRequired`
        (and parks the integration) when the provider refuses the grant."""
        row = self.store.load(integration_id)
        if row is None:
            raise CredentialError(f"integration {integration_id} has no stored credential")
        if row.kind == "bearer":
            cred = self._decrypt(row)
            assert isinstance(cred, BearerToken)
            return cred.token
        if row.kind in ("oauth_client_credentials", "oauth_authorization_code") and (
            self.store.status(integration_id) == "needs_reauth"
        ):
            # Parked: the provider already refused this grant; asking again cannot help.
            raise ReauthRequired(
                f"integration {integration_id} needs re-authorization (store a new credential "
                "or run the Integrate flow again)"
            )
        if row.kind == "oauth_client_credentials":
            return self._client_credentials_token(row)
        if row.kind == "oauth_authorization_code":
            if not self._expiring(row.access_token_expires_at):
                cred = self._decrypt(row)
                assert isinstance(cred, OAuthAuthorizationCode)
                if cred.access_token:
                    return cred.access_token
            return self._refresh(integration_id)
        raise CredentialError(
            f"integration {integration_id} has a {row.kind} credential, which has no access token"
        )

    def delegated_token(
        self,
        integration_id: int,
        *,
        subject: str | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> str:
        """An access token from the integration's Google service account, acting as
        ``subject`` (default: the administrator it was stored with) for ``scopes``
        (default: those stored); kept in memory until it is about to expire. A refused
        grant (delegation not given, or not for these scopes) parks the integration."""
        from .oauth import OAuthError

        row = self.store.load(integration_id)
        if row is None or row.kind != "google_service_account":
            raise CredentialError(
                f"integration {integration_id} has no Google service account credential"
            )
        cred = self._decrypt(row)
        assert isinstance(cred, GoogleServiceAccount)
        who = subject or cred.subject
        wanted = scopes or cred.scopes
        key = (integration_id, who, wanted)
        with self._cache_lock:
            cached = self._delegated.get(key)
        if cached is not None and cached[2] == row.updated and not self._expiring(cached[1]):
            return cached[0]
        try:
            tokens = self.token_client.jwt_bearer(
                cred, subject=who, scopes=wanted, now=self.clock()
            )
        except OAuthError as exc:
            if exc.auth_failure:
                reason = f"Google refused the service account for {who} ({exc.error})"
                self.mark_needs_reauth(integration_id, reason)
                raise ReauthRequired(
                    f"integration {integration_id} needs re-authorization: {reason}; check the "
                    "domain-wide delegation and its scopes in the Google Admin console"
                ) from None
            raise
        expires = (
            self.clock() + timedelta(seconds=tokens.expires_in)
            if tokens.expires_in is not None
            else None
        )
        with self._cache_lock:
            self._delegated[key] = (tokens.access_token, expires, row.updated)
        return tokens.access_token

    # -- internals --------------------------------------------------------------

    def _expiring(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at - self.refresh_margin <= self.clock()

    def require_keyring(self) -> KeyRing:
        """The key ring, or a clear error when none is configured."""
        if self.keyring is None:
            raise CredentialError(
                "no encryption key is configured (set SCIMSERVER_SECRET_KEYS; "
                "'scimserver keys generate' makes one)"
            )
        return self.keyring

    def _sealed(self, integration_id: int, credential: Credential) -> NewCredential:
        """The row for ``credential``: secrets encrypted together with the integration
        id and kind they belong to (checked on every read)."""
        ring = self.require_keyring()
        payload = json.dumps(
            {
                "v": 1,
                "integration_id": integration_id,
                "kind": credential.kind,
                "secrets": credential.secret_params(),
            }
        )
        public = {"params": credential.public_params(), "hints": credential.hints()}
        expires = credential.expires_at if isinstance(credential, OAuthAuthorizationCode) else None
        return NewCredential(
            credential.kind, public, ring.encrypt(payload), ring.primary_key_id, expires
        )

    def _write(self, integration_id: int, credential: Credential) -> StoredCredential:
        new = self._sealed(integration_id, credential)
        try:
            with self.store.locked(integration_id) as writer:
                return writer.save(new, self.clock())
        except NotFound:
            raise CredentialError(f"integration {integration_id} does not exist") from None

    def _decrypt(self, row: StoredCredential) -> Credential:
        try:
            plaintext = self.require_keyring().decrypt(row.secret_ciphertext)
        except KeyRingError:
            raise CredentialError(
                f"the credential of integration {row.integration_id} cannot be decrypted with "
                f"the configured keys (it was encrypted with key {row.key_id}); check "
                "SCIMSERVER_SECRET_KEYS"
            ) from None
        try:
            doc = json.loads(plaintext)
            bound = doc["integration_id"] == row.integration_id and doc["kind"] == row.kind
            secrets = doc["secrets"]
        except (ValueError, KeyError, TypeError):
            bound, secrets = False, None
        if not bound or not isinstance(secrets, dict):
            raise CredentialError(
                f"the stored credential of integration {row.integration_id} does not belong to it"
            )
        try:
            return _build(row.kind, row.public_params.get("params", {}), secrets)
        except (CredentialError, TypeError, ValueError):
            raise CredentialError(
                f"the stored credential of integration {row.integration_id} is malformed"
            ) from None

    def _info(self, row: StoredCredential) -> CredentialInfo:
        hints = row.public_params.get("hints", {})
        return CredentialInfo(
            integration_id=row.integration_id,
            kind=row.kind,
            hints={str(k): str(v) for k, v in hints.items()},
            access_token_expires_at=row.access_token_expires_at,
            key_id=row.key_id,
            created=row.created,
            updated=row.updated,
        )

    def _with_tokens(
        self, cred: OAuthAuthorizationCode, tokens: TokenResponse
    ) -> OAuthAuthorizationCode:
        expires = (
            self.clock() + timedelta(seconds=tokens.expires_in)
            if tokens.expires_in is not None
            else None
        )
        return replace(
            cred,
            access_token=tokens.access_token,
            # RFC 6749 6: a refresh response may omit the refresh token (keep the old one).
            refresh_token=tokens.refresh_token or cred.refresh_token,
            expires_at=expires,
        )

    def _refresh(self, integration_id: int) -> str:
        from .oauth import OAuthError

        try:
            with self.store.locked(integration_id) as writer:
                row = writer.current
                if row is None:
                    raise CredentialError(f"integration {integration_id} has no stored credential")
                cred = self._decrypt(row)
                assert isinstance(cred, OAuthAuthorizationCode)
                # Another worker may have refreshed while we waited for the lock.
                if cred.access_token and not self._expiring(row.access_token_expires_at):
                    return cred.access_token
                if not cred.refresh_token:
                    raise _NeedsReauth("no refresh token (run the Integrate flow)")
                try:
                    tokens = self.token_client.refresh(cred)
                except OAuthError as exc:
                    if exc.auth_failure:
                        raise _NeedsReauth(f"refresh refused ({exc.error})") from None
                    raise
                fresh = self._with_tokens(cred, tokens)
                writer.save(self._sealed(integration_id, fresh), self.clock())
        except NotFound:
            raise CredentialError(f"integration {integration_id} does not exist") from None
        except _NeedsReauth as exc:
            self.mark_needs_reauth(integration_id, exc.reason)
            raise ReauthRequired(
                f"integration {integration_id} needs re-authorization: {exc.reason}"
            ) from None
        log.info("refreshed the access token of integration %s", integration_id)
        assert fresh.access_token is not None
        return fresh.access_token

    def _client_credentials_token(self, row: StoredCredential) -> str:
        from .oauth import OAuthError

        with self._cache_lock:
            cached = self._cache.get(row.integration_id)
        if cached is not None and cached[2] == row.updated and not self._expiring(cached[1]):
            return cached[0]
        cred = self._decrypt(row)
        assert isinstance(cred, OAuthClientCredentials)
        try:
            tokens = self.token_client.client_credentials(cred)
        except OAuthError as exc:
            if exc.auth_failure:
                reason = f"token request refused ({exc.error})"
                self.mark_needs_reauth(row.integration_id, reason)
                raise ReauthRequired(
                    f"integration {row.integration_id} needs re-authorization: {reason}"
                ) from None
            raise
        expires = (
            self.clock() + timedelta(seconds=tokens.expires_in)
            if tokens.expires_in is not None
            else None
        )
        with self._cache_lock:
            self._cache[row.integration_id] = (tokens.access_token, expires, row.updated)
        return tokens.access_token


class _NeedsReauth(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
