"""scimcore: a framework-free SCIM 2.0 (RFC 7643 / RFC 7644) service-provider core.

Layering: nothing in this package imports a web framework or ``scimserver``;
SQLAlchemy is only imported under ``scimcore.storage.sql``, marshmallow only in
``scimcore.schema.serializers``, scim2-filter-parser only in
``scimcore.filters.lexer`` and PyJWT only in ``scimcore.auth``.
"""

from .auth import Authenticator, IssuedToken, JwtSettings, Principal, hash_token, issue_token
from .discovery import ServiceConfig
from .errors import (
    BadRequest,
    InvalidFilter,
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    MethodNotAllowed,
    Mutability,
    NoTarget,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ScimError,
    ServiceUnavailable,
    Unauthorized,
    Uniqueness,
)
from .messages import ScimRequest, ScimResponse
from .schema.core import ENTERPRISE_USER, GROUP, GROUP_RESOURCE, USER, USER_RESOURCE
from .service import ScimService, error_response
from .storage.base import Organization, Store, StoreSession, TokenInfo

__all__ = [
    "ENTERPRISE_USER",
    "GROUP",
    "GROUP_RESOURCE",
    "USER",
    "USER_RESOURCE",
    "Authenticator",
    "BadRequest",
    "InvalidFilter",
    "InvalidPath",
    "InvalidSyntax",
    "InvalidValue",
    "IssuedToken",
    "JwtSettings",
    "MethodNotAllowed",
    "Mutability",
    "NoTarget",
    "NotFound",
    "Organization",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Principal",
    "ScimError",
    "ScimRequest",
    "ScimResponse",
    "ScimService",
    "ServiceConfig",
    "ServiceUnavailable",
    "Store",
    "StoreSession",
    "TokenInfo",
    "Unauthorized",
    "Uniqueness",
    "error_response",
    "hash_token",
    "issue_token",
]
