"""Integrations and service accounts (docs/csv.md, docs/connectors.md): entities, the storage
protocol, and the key ring that encrypts service passwords at rest."""

from .keyring import KeyRing, KeyRingError
from .models import (
    CATALOG,
    DEPROVISION_POLICIES,
    INTEGRATION_STATUSES,
    RESOURCE_ID_MODES,
    SERVICE_KINDS,
    SERVICE_PASSWORD_MAX,
    AccountListing,
    AccountValues,
    DeprovisionPolicy,
    Integration,
    IntegrationSettings,
    IntegrationStatus,
    LinkMethod,
    LinkStatus,
    ResourceIdMode,
    ServiceAccount,
    ServiceKind,
    ServiceType,
)
from .store import AccountSession, AccountStore

__all__ = [
    "CATALOG",
    "DEPROVISION_POLICIES",
    "INTEGRATION_STATUSES",
    "RESOURCE_ID_MODES",
    "SERVICE_KINDS",
    "SERVICE_PASSWORD_MAX",
    "AccountListing",
    "AccountSession",
    "AccountStore",
    "AccountValues",
    "DeprovisionPolicy",
    "Integration",
    "IntegrationSettings",
    "IntegrationStatus",
    "KeyRing",
    "KeyRingError",
    "LinkMethod",
    "LinkStatus",
    "ResourceIdMode",
    "ServiceAccount",
    "ServiceKind",
    "ServiceType",
]
