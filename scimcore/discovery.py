"""Discovery documents: ServiceProviderConfig, ResourceTypes, Schemas (RFC 7644 4).

ServiceProviderConfig tells the truth: each flag below is backed by code and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


@dataclass(frozen=True)
class ServiceConfig:
    """Limits the service enforces and advertises."""

    default_page_size: int = 100
    max_page_size: int = 1000
    max_payload_bytes: int = 1024 * 1024
    max_bulk_operations: int = 1000
    documentation_uri: str | None = None


def service_provider_config(config: ServiceConfig, location: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": config.max_bulk_operations,
            "maxPayloadSize": config.max_payload_bytes,
        },
        "filter": {"supported": True, "maxResults": config.max_page_size},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "pagination": {
            "index": True,
            "cursor": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": config.default_page_size,
            "maxPageSize": config.max_page_size,
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The organization's secret token (or a configured JWT) sent as "
                "'Authorization: Bearer <token>' (RFC 6750).",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": location},
    }
    if config.documentation_uri:
        doc["documentationUri"] = config.documentation_uri
    return doc
