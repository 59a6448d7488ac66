"""The framework-free request and response a glue layer exchanges with the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCIM_CONTENT_TYPE = "application/scim+json"


@dataclass(frozen=True)
class ScimRequest:
    """One HTTP request, relative to the tenant URL (``path`` like ``/Users/123``)."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The authenticated subject (a JWT ``sub``), which /Me resolves to a User.
    subject: str | None = None


@dataclass(frozen=True)
class ScimResponse:
    """What to send back: status, headers, and a JSON body (``None`` for 204/304)."""

    status: int
    body: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
