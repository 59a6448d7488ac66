"""Connectors: provision and discover accounts in downstream services (docs/connectors.md).

The interface (:mod:`.base`), its error tree (:mod:`.errors`), request authenticators
(:mod:`.auth`), the registry of the ``scimserver.connectors`` entry point group
(:mod:`.registry`), the built-in connectors (``manual``, ``webhook``, ``scim2``), the
provisioning engine (:mod:`.engine`) and discovery (:mod:`.discovery`). The only
package of ``scimcore`` that talks HTTP.
"""

from .auth import ApiKeyAuth, BasicAuth, BearerAuth, HmacSigner, NoAuth, auth_from_credential
from .base import (
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
    RemoteAccount,
)
from .errors import (
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
from .registry import available, load, register

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
