"""The connector error tree: the engine decides what to do from the type, never the text.

::

    ConnectorError                  base; ``retryable`` says whether trying again can help
    ├── TransientError              timeouts, connection failures, 5xx: retry with backoff
    │   └── RateLimited             429 (or 503 + Retry-After): retry after ``retry_after``
    ├── AuthenticationFailed        401/403, refused or missing credentials: park the
    │                               integration as ``needs_reauth``, never retry
    └── PermanentError              retrying cannot help
        ├── InvalidResponse         a malformed, mistyped or oversized answer
        ├── InvalidData             the remote service rejects the values we sent
        ├── AlreadyExists           create found the account there (carries it when known)
        └── UnsupportedOperation    the connector does not declare that capability

Messages are written for an admin and never contain a secret: connectors build them
from status codes and short, redacted excerpts, never from request headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connector import RemoteAccount


class ConnectorError(Exception):
    """A call to a remote service failed. ``code`` is stable, for machines and events."""

    retryable: bool = False
    code: str = "connector_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(ConnectorError):
    retryable = True
    code = "transient"


class RateLimited(TransientError):
    """The remote service asked us to slow down; ``retry_after`` seconds, when it said."""

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AuthenticationFailed(ConnectorError):
    code = "auth_failed"


class PermanentError(ConnectorError):
    code = "permanent"


class InvalidResponse(PermanentError):
    code = "invalid_response"


class InvalidData(PermanentError):
    code = "invalid_data"

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None):
        super().__init__(message, status=status)
        self.field = field


class AlreadyExists(PermanentError):
    code = "already_exists"

    def __init__(
        self, message: str, *, existing: RemoteAccount | None = None, status: int | None = 409
    ) -> None:
        super().__init__(message, status=status)
        self.existing = existing


class UnsupportedOperation(PermanentError):
    code = "unsupported"
