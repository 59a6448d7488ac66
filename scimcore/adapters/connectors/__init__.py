"""Connectors: provision and discover accounts in downstream services (docs/connectors.md).

The built-in connectors (``manual``, ``webhook``, ``scim2``), the HTTP client they and
the OAuth calls share (:mod:`.http`), request authenticators (:mod:`.auth`), the
credential vault and OAuth flow, where the worker gets credentials
(:mod:`.credential_source`), and the contract kit (:mod:`.testing`). The port they
implement, its errors, the registry, the worker and discovery are
:mod:`scimcore.provisioning`; their names are re-exported here, the import path
connector authors use. The only package of ``scimcore`` that talks HTTP.
"""

from ...provisioning.connector import (
    LIFECYCLE,
    AccountRef,
    AccountSpec,
    Auth,
    AuthMethod,
    Capability,
    ConnectionCheck,
    Connector,
    ConnectorContext,
    HttpRequest,
    OAuthPreset,
    RemoteAccount,
)
from ...provisioning.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConnectorError,
    InvalidData,
    InvalidResponse,
    PermanentError,
    RateLimited,
    TransientError,
    UnsupportedOperation,
)
from ...provisioning.registry import available, load, register
from .auth import ApiKeyAuth, BasicAuth, BearerAuth, HmacSigner, NoAuth, auth_from_credential

__all__ = [
    "LIFECYCLE",
    "AccountRef",
    "AccountSpec",
    "AlreadyExists",
    "ApiKeyAuth",
    "Auth",
    "AuthMethod",
    "AuthenticationFailed",
    "BasicAuth",
    "BearerAuth",
    "Capability",
    "ConnectionCheck",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "HmacSigner",
    "HttpRequest",
    "InvalidData",
    "InvalidResponse",
    "NoAuth",
    "OAuthPreset",
    "PermanentError",
    "RateLimited",
    "RemoteAccount",
    "TransientError",
    "UnsupportedOperation",
    "auth_from_credential",
    "available",
    "load",
    "register",
]
