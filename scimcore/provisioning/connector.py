"""The connector interface (docs/connectors.md): values, capabilities and the Protocol.

A connector is small, synchronous and stateless: one method per remote action, each
taking a :class:`ConnectorContext` (which integration, its non-secret settings, and an
:class:`Auth` that signs requests). Everything else — scheduling, retries, idempotency
records, matching, classification and events — belongs to the worker
(:mod:`.worker`) and discovery (:mod:`.discovery`), so one contract kit
(:mod:`scimcore.adapters.connectors.testing`) covers every connector. The connectors
themselves are adapters (:mod:`scimcore.adapters.connectors`); this package never
imports them: the worker finds them through the registry (:mod:`.registry`).

Contract every connector meets, whatever the remote API supports:

* ``get_account`` and ``find_account`` return ``None`` for a missing account.
* ``create_account`` on an existing account raises :class:`~.errors.AlreadyExists`,
  carrying the existing account when it can; it never makes a second account.
* ``delete_account`` on a missing account succeeds silently.
* ``deactivate_account`` on an inactive account, and ``reactivate_account`` on an
  active one, succeed without a change.
* ``update_account`` with the desired state equal to the remote one makes no write.
* Only methods whose :class:`Capability` is declared are called; the others raise
  :class:`~.errors.UnsupportedOperation`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, TypeAlias, runtime_checkable

AuthMethod: TypeAlias = Literal[
    "none",
    "oauth2_authorization_code",
    "oauth2_client_credentials",
    "api_key",
    "bearer_token",
    "scim_bearer",
    "basic",
    "id_password",
    "hmac_secret",
    "service_account",
]
AccountStatus: TypeAlias = Literal["active", "suspended", "deleted"]


class Capability(enum.Flag):
    """What a connector can do (after Okta's provisioning capabilities)."""

    NONE = 0
    DISCOVER = enum.auto()
    CREATE = enum.auto()
    UPDATE = enum.auto()
    DEACTIVATE = enum.auto()
    REACTIVATE = enum.auto()
    DELETE = enum.auto()
    SET_PASSWORD = enum.auto()
    GROUPS = enum.auto()
    LICENSES = enum.auto()


#: The lifecycle capabilities most connectors declare together.
LIFECYCLE = (
    Capability.CREATE
    | Capability.UPDATE
    | Capability.DEACTIVATE
    | Capability.REACTIVATE
    | Capability.DELETE
)


@dataclass(frozen=True)
class RemoteAccount:
    """An account as the remote service reports it; never persisted as-is.

    ``last_access`` is the last sign-in the service reports, where it reports one
    (Google Workspace's ``lastLoginTime``, Microsoft Graph's
    ``signInActivity.lastSignInDateTime``); discovery stores it as the account's
    ``lastAccessTime``, the one column of the service-account CSV that only a download
    carries. ``raw`` keeps the remote document for debugging, with secrets stripped.
    """

    remote_id: str
    login: str
    email: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    external_id: str | None = None
    status: AccountStatus = "active"
    last_access: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class AccountRef:
    """Which remote account: its remote id, its login (``account_id``), or both."""

    remote_id: str | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        if not self.remote_id and not self.account_id:
            raise ValueError("an AccountRef needs a remote_id or an account_id")


@dataclass(frozen=True)
class AccountSpec:
    """The desired state of an account: full values, not a patch."""

    account_id: str
    email: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    external_id: str | None = None
    active: bool = True
    #: The service-specific fields of the user's account (the service-account CSV's
    #: ``mailProxyActive``, ``licenseProfile``, ``immutableId``) under the keys
    #: ``mail_proxy_active``, ``license_profile`` and ``immutable_id``; a connector
    #: applies those its service has.
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OAuthPreset:
    """A service's OAuth endpoints and the scopes the connector needs, known in advance,
    so an administrator gives only what the vendor issues: the client id and secret."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    #: Where an administrator grants the app its permissions for the whole tenant
    #: (Microsoft's admin consent), when the service has such a page.
    consent_url: str | None = None

    @property
    def settings(self) -> tuple[str, ...]:
        """The integration settings the endpoints name, as ``{tenant_id}``."""
        text = " ".join((self.authorize_url, self.token_url, self.consent_url or ""))
        return tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", text)))

    def resolve(self, settings: Mapping[str, Any]) -> OAuthPreset | None:
        """The endpoints with the integration's settings filled in; ``None`` while a
        setting they name is missing (or is not a plain identifier: it goes into a URL)."""
        values: dict[str, str] = {}
        for name in self.settings:
            value = settings.get(name)
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
                return None
            values[name] = value
        return OAuthPreset(
            self.authorize_url.format(**values),
            self.token_url.format(**values),
            self.scopes,
            self.consent_url.format(**values) if self.consent_url else None,
        )


#: What one field of an address template may hold: a DNS label (a subdomain, an
#: enterprise slug, a directory id), so a value can never change the URL's host or path.
ADDRESS_FIELD = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def address_fields(template: str) -> tuple[str, ...]:
    """The settings an address template names, in order: ``("subdomain",)``."""
    return tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", template)))


def fill_address(template: str, settings: Mapping[str, Any]) -> str:
    """The template with the settings it names filled in.

    Raises :class:`ValueError` naming the first field that is missing or not a DNS label.
    """
    values: dict[str, str] = {}
    for name in address_fields(template):
        value = settings.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} is required")
        if not ADDRESS_FIELD.fullmatch(value.strip()):
            raise ValueError(
                f"{name} must be letters, digits and inner hyphens (at most 63), "
                f"as in the service's address, not a whole URL"
            )
        values[name] = value.strip()
    return template.format(**values)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str = ""
    remote_tenant_ref: str | None = None


@dataclass
class HttpRequest:
    """An outgoing request, given to :meth:`Auth.apply` to sign before it is sent."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@runtime_checkable
class Auth(Protocol):
    """Adds credentials to a request (a header, a signature). Never logs or reprs them."""

    def apply(self, request: HttpRequest) -> None: ...


@dataclass(frozen=True)
class ConnectorContext:
    """Everything one call needs: which integration, its settings, how to authenticate.

    ``settings`` holds non-secret configuration (``base_url``, ``url``, page sizes);
    secrets only reach the connector inside ``auth``. ``timeout`` bounds each request
    from start to last byte; ``max_response_bytes`` caps what is read. ``notes``: what
    a connector wants an administrator to know about the run (a field the service would
    not give, and why); discovery records them with the run.
    """

    organization_id: str
    integration_id: int
    settings: Mapping[str, Any]
    auth: Auth
    timeout: float = 10.0
    max_response_bytes: int = 2 * 1024 * 1024
    notes: list[str] = field(default_factory=list, compare=False)


class Connector(Protocol):
    """One kind of downstream service. Instances are stateless and cheap to make."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    capabilities: ClassVar[Capability]
    auth_methods: ClassVar[frozenset[AuthMethod]]
    #: Logs in as an employee admin (ID/password); unusable when SSO is enforced.
    requires_local_login: ClassVar[bool]
    #: What ``account_id`` means on this service: ``"login"`` or ``"email"``.
    account_id_attribute: ClassVar[str]
    #: The setting that holds the service's address (``base_url``), or ``None`` when the
    #: connector knows it. The console asks for it and it is checked as an absolute
    #: http(s) URL before anything is saved. Optional: a connector without it has none.
    address_setting: ClassVar[str | None]
    #: How the address is built from what an administrator knows (optional), as
    #: ``"https://{subdomain}.cybozu.com"``: the console and the CLI ask for each named
    #: setting (a DNS label, see :func:`fill_address`) and store the URL under
    #: ``address_setting``; giving that setting directly overrides the template (a
    #: proxy, a test double).
    address_template: ClassVar[str | None]
    #: The service's OAuth endpoints and scopes, when they are fixed (optional).
    oauth_preset: ClassVar[OAuthPreset | None]

    # Optional, not part of the Protocol: ``auth_from(credential) -> Auth | None``. A
    # connector that signs requests its own way (cybozu.com's header, a login form)
    # turns the vault's decrypted credential into its authenticator; ``None`` leaves
    # the default mapping (bearer, API key, HTTP Basic).

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck: ...

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 100
    ) -> Iterator[RemoteAccount]: ...

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None: ...

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None: ...

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount: ...

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount: ...

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None: ...

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None: ...

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None: ...


class NoRemoteListing:
    """For connectors that can only push (no DISCOVER capability): nothing to list or find.

    The engine then creates instead of linking, and discovery skips the integration.
    """

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 100
    ) -> Iterator[RemoteAccount]:
        return iter(())

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None:
        return None

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None:
        return None
