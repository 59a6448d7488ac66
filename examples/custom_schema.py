"""Declaring a company extension on User and a new resource type, as data.

Both declarations use the JSON form that /Schemas and /ResourceTypes publish
(RFC 7643 sections 6 and 7), so they can live in files next to your app. Everything
else (validation, storage, filters, sorting, PATCH, discovery) follows from them.

Run:  python examples/custom_schema.py     (serves on http://127.0.0.1:5001)
"""

from __future__ import annotations

from scimcore import GROUP_RESOURCE, USER_RESOURCE
from scimcore.schema.declare import extend, resource_type_from_dict, schema_from_dict

ACME_USER = schema_from_dict(
    {
        "id": "urn:acme:params:scim:schemas:extension:2.0:User",
        "name": "AcmeUser",
        "description": "Acme's own user attributes",
        "attributes": [
            {"name": "badgeNumber", "type": "string", "caseExact": True},
            {"name": "clearance", "type": "string", "canonicalValues": ["public", "secret"]},
            {"name": "startDate", "type": "dateTime"},
            {"name": "parkingSpots", "type": "integer"},
            {"name": "languages", "type": "string", "multiValued": True},
        ],
    }
)

DEVICE = schema_from_dict(
    {
        "id": "urn:acme:params:scim:schemas:core:2.0:Device",
        "name": "Device",
        "description": "A laptop or phone issued to an employee",
        "attributes": [
            {"name": "serialNumber", "type": "string", "required": True, "uniqueness": "server"},
            {"name": "model", "type": "string"},
            {
                "name": "owner",
                "type": "complex",
                "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "display", "type": "string"},
                ],
            },
            {"name": "retired", "type": "boolean"},
        ],
    }
)

RESOURCE_TYPES = (
    extend(USER_RESOURCE, ACME_USER),
    GROUP_RESOURCE,
    resource_type_from_dict(
        {
            "id": "Device",
            "name": "Device",
            "endpoint": "/Devices",
            "description": "Issued devices",
            "schema": DEVICE.id,
        },
        {DEVICE.id: DEVICE},
    ),
)

if __name__ == "__main__":
    from scimcore import issue_token
    from scimserver import Settings, create_app

    app = create_app(Settings(database_url="sqlite:///acme.db"), resource_types=RESOURCE_TYPES)
    store = app.extensions["scimcore"]["store"]
    org = store.get_organization("acme") or store.create_organization("acme", "Acme")
    print("tenant URL: http://127.0.0.1:5001/scim/v2/organizations/acme")
    print("token:     ", issue_token(store, org).token)
    app.run(host="127.0.0.1", port=5001)
