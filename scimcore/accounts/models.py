"""Integrations and service accounts: which account each of our users holds where.

A *service kind* is a catalog entry (what a SaaS supports); an
:class:`Integration` is one organization's use of one service, named by its display
name (1.6); a :class:`ServiceAccount` links one of our users to one remote account in
one integration (1.8). Values crossing module boundaries are frozen dataclasses; the
service password only ever crosses as ciphertext, and never out of storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias, get_args

ServiceKind: TypeAlias = Literal[
    "google_workspace", "microsoft_365", "cybozu", "form_based", "scim2", "manual"
]
ResourceIdMode: TypeAlias = Literal["auto", "manual"]
DeprovisionPolicy: TypeAlias = Literal["deactivate_remote", "delete_remote", "nothing"]
LinkStatus: TypeAlias = Literal["linked", "unlinked"]
LinkMethod: TypeAlias = Literal["csv", "manual", "auto_matched", "created_by_us"]
#: ``active`` is an integration that is usable as configured.
#: ``needs_reauth``: the service refused our credential; nothing retries until an admin
#: stores a new one (or runs the OAuth "Integrate" flow again). ``quarantined``: most of
#: its recent jobs failed; it is tried rarely until one succeeds
#: (scimcore.provisioning.quarantine).
IntegrationStatus: TypeAlias = Literal[
    "active",
    "pending_auth",
    "syncing",
    "synced",
    "sync_failed",
    "needs_reauth",
    "disabled",
    "quarantined",
]

SERVICE_KINDS: tuple[ServiceKind, ...] = get_args(ServiceKind)
RESOURCE_ID_MODES: tuple[ResourceIdMode, ...] = get_args(ResourceIdMode)
DEPROVISION_POLICIES: tuple[DeprovisionPolicy, ...] = get_args(DeprovisionPolicy)
INTEGRATION_STATUSES: tuple[IntegrationStatus, ...] = get_args(IntegrationStatus)

#: servicePassword is at most this many characters (CloudGate's limit).
SERVICE_PASSWORD_MAX = 100


@dataclass(frozen=True)
class ServiceType:
    """What a kind of service supports: the account fields that apply to it."""

    kind: ServiceKind
    label: str
    mail_proxy: bool = False
    license_profiles: bool = False
    immutable_id: bool = False
    service_password: bool = False
    scim_resource_id: bool = False


CATALOG: dict[ServiceKind, ServiceType] = {
    t.kind: t
    for t in (
        ServiceType("google_workspace", "Google Workspace", mail_proxy=True),
        ServiceType("microsoft_365", "Microsoft 365", license_profiles=True, immutable_id=True),
        ServiceType("cybozu", "cybozu.com", license_profiles=True),
        ServiceType("form_based", "Form-based login", service_password=True),
        ServiceType("scim2", "SCIM 2.0", scim_resource_id=True),
        ServiceType("manual", "Manual (custom app)"),
    )
}


@dataclass(frozen=True)
class IntegrationSettings:
    """Per-integration settings. Deprovisioning defaults to deactivate."""

    license_profiles: tuple[str, ...] = ()
    scim_user_resource_id_mode: ResourceIdMode = "auto"
    on_service_account_delete: DeprovisionPolicy = "deactivate_remote"
    provisioning_enabled: bool = False


@dataclass(frozen=True)
class Integration:
    """One service an organization uses. ``is_manual``: accounts come only from CSV/UI."""

    id: int
    organization_id: str
    display_name: str
    kind: ServiceKind
    is_manual: bool
    settings: IntegrationSettings
    created: datetime
    status: IntegrationStatus = "active"

    @property
    def service(self) -> ServiceType:
        return CATALOG[self.kind]


@dataclass(frozen=True)
class ServiceAccount:
    """A stored link, as storage returns it: the password is never included."""

    id: int
    integration_id: int
    user_id: str | None
    account_id: str
    link_status: LinkStatus
    link_method: LinkMethod | None = None
    last_access_time: datetime | None = None
    mail_proxy_active: bool | None = None
    license_profile: str | None = None
    immutable_id: str | None = None
    scim_user_resource_id: str | None = None
    has_service_password: bool = False


@dataclass(frozen=True)
class AccountValues:
    """The writable state of a linked account: what an insert or update stores.

    ``service_password_ciphertext`` of ``None`` on an update leaves the stored one.
    """

    integration_id: int
    user_id: str
    account_id: str
    mail_proxy_active: bool | None = None
    license_profile: str | None = None
    immutable_id: str | None = None
    scim_user_resource_id: str | None = None
    service_password_ciphertext: str | None = field(default=None, repr=False)
    link_method: LinkMethod = "csv"


@dataclass(frozen=True)
class AccountListing:
    """One exported row: the account with its user's ``userName`` and service name."""

    account: ServiceAccount
    service_display_name: str
    user_name: str | None
