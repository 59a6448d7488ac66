"""The SCIM error tree (RFC 7644 section 3.12).

Every failure the core reports is a :class:`ScimError`: it knows its HTTP status,
its ``scimType`` (where RFC 7644 defines one) and a ``detail`` a person can act on.
One place (:meth:`ScimError.to_dict`) renders the wire body, so every glue layer
returns the same error document::

    ScimError
    +-- BadRequest (400)
    |   +-- InvalidFilter      scimType=invalidFilter
    |   +-- TooMany            scimType=tooMany
    |   +-- InvalidSyntax      scimType=invalidSyntax
    |   +-- InvalidPath        scimType=invalidPath
    |   +-- NoTarget           scimType=noTarget
    |   +-- InvalidValue       scimType=invalidValue
    |   +-- InvalidVersion     scimType=invalidVers
    |   +-- Mutability         scimType=mutability
    |   +-- Sensitive          scimType=sensitive
    |   +-- InvalidCursor      scimType=invalidCursor (RFC 9865)
    +-- Unauthorized (401)
    +-- Forbidden (403)
    +-- NotFound (404)
    +-- MethodNotAllowed (405)
    +-- Conflict (409)
    |   +-- Uniqueness         scimType=uniqueness
    +-- PreconditionFailed (412)
    +-- PayloadTooLarge (413)
    +-- UnsupportedMediaType (415)
    +-- TooManyRequests (429)
    +-- InternalError (500)
    +-- NotImplementedFeature (501)
    +-- ServiceUnavailable (503)
        +-- TransactionConflict   a deadlock or serialization failure, retried first
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """Base of every error the SCIM core raises; renders as an RFC 7644 3.12 body."""

    status: ClassVar[int] = 500
    scim_type: ClassVar[str | None] = None
    default_detail: ClassVar[str] = "The request failed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        """The error document; ``status`` is a string as RFC 7644 3.12 shows it."""
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs (e.g. ``WWW-Authenticate``)."""
        return {}


class BadRequest(ScimError):
    status = 400
    default_detail = "The request is not valid."


class InvalidFilter(BadRequest):
    scim_type = "invalidFilter"
    default_detail = "The specified filter syntax was invalid."


class TooMany(BadRequest):
    scim_type = "tooMany"
    default_detail = "The filter would return too many results."


class InvalidSyntax(BadRequest):
    scim_type = "invalidSyntax"
    default_detail = "The request body could not be parsed or violates the schema."


class InvalidPath(BadRequest):
    scim_type = "invalidPath"
    default_detail = "The path attribute was invalid or malformed."


class NoTarget(BadRequest):
    scim_type = "noTarget"
    default_detail = "The specified path did not yield an attribute or value to operate on."


class InvalidValue(BadRequest):
    scim_type = "invalidValue"
    default_detail = "A required value was missing or a value was not compatible."


class InvalidVersion(BadRequest):
    scim_type = "invalidVers"
    default_detail = "The specified SCIM protocol version is not supported."


class Mutability(BadRequest):
    scim_type = "mutability"
    default_detail = "The attempted modification is not compatible with the attribute's mutability."


class Sensitive(BadRequest):
    scim_type = "sensitive"
    default_detail = "The request cannot be completed because of sensitive information in the URI."


class InvalidCursor(BadRequest):
    scim_type = "invalidCursor"
    default_detail = (
        "The cursor is not valid: send an empty cursor for the first page, then the "
        "nextCursor of the previous response with the same query parameters."
    )


class Unauthorized(ScimError):
    status = 401
    default_detail = "Authorization failure: a valid bearer token is required."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="SCIM"'}


class Forbidden(ScimError):
    status = 403
    default_detail = "The operation is not permitted for this client."


class NotFound(ScimError):
    status = 404
    default_detail = "The specified resource does not exist."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "The HTTP method is not supported for this endpoint."

    def __init__(self, detail: str | None = None, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)} if self.allowed else {}


class Conflict(ScimError):
    status = 409
    default_detail = "The request conflicts with the state of the service provider."


class Uniqueness(Conflict):
    scim_type = "uniqueness"
    default_detail = "One or more attribute values are already in use or are reserved."


class PreconditionFailed(ScimError):
    status = 412
    default_detail = "The resource has changed since the version the client supplied."


class PayloadTooLarge(ScimError):
    status = 413
    default_detail = "The request body exceeds the size the service provider accepts."


class UnsupportedMediaType(ScimError):
    status = 415
    default_detail = "Request bodies must be application/scim+json or application/json."


class TooManyRequests(ScimError):
    """A rate limit refused the request (RFC 6585 4); ``Retry-After`` says when to retry.

    ``retry_after`` is in whole seconds, at least 1: clients that honour the header
    (Okta, Entra ID) wait that long and then resume on their own.
    """

    status = 429
    default_detail = "Too many requests; retry later."

    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InternalError(ScimError):
    status = 500
    default_detail = "The service provider hit an unexpected error; nothing was changed."


class NotImplementedFeature(ScimError):
    status = 501
    default_detail = "The service provider does not support this operation."


class ServiceUnavailable(ScimError):
    status = 503
    default_detail = "The service is temporarily unavailable (the database cannot be reached)."


class TransactionConflict(ServiceUnavailable):
    """The database ended the transaction to resolve a conflict with a concurrent one
    (a deadlock, a serialization failure). The service retries the request itself;
    a client sees this only when every retry met one too."""

    default_detail = (
        "The request conflicted with concurrent changes to the same resources and was "
        "not applied; retry it."
    )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}
