"""An OpenAPI 3.1 description of the SCIM API, generated from the schema registry.

:func:`openapi_document` builds the document from the same
:class:`~scimcore.schema.attributes.ResourceType` definitions the service validates
with, so a custom extension or resource type appears in it without extra code. Each
attribute becomes a JSON Schema property: its SCIM type maps onto a JSON type,
``multiValued`` onto an array, ``canonicalValues`` onto an ``enum``, ``readOnly``
mutability onto ``readOnly`` (clients should not send it; the service ignores it) and
``writeOnly`` mutability or ``returned: never`` (``password``) onto ``writeOnly`` (it is
never in a response). The SCIM characteristics JSON Schema cannot express are kept as
``x-scim-*`` annotations.

Two schemas are emitted per resource type: ``<Name>`` is the resource as the service
returns it (only ``schemas`` and ``id`` are always present, because ``attributes`` and
``excludedAttributes`` may drop anything else) and ``<Name>Request`` is the body of a
POST or PUT (``schemas`` and the required attributes must be present).

Paths are relative to the tenant URL (the ``servers`` entry carries the organization
as the ``{org}`` server variable); the responses list every status code the service
answers with, and every error body is the SCIM ``Error`` message (RFC 7644 3.12).

One module, though long: the document is built top-down from the schema registry,
and its parts (component schemas from attribute characteristics, one operation per
endpoint, the shared error responses) are read together when the API changes; most of
its length is the per-operation text a reader of the document sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .bulk import BULK_REQUEST, BULK_RESPONSE
from .discovery import SPC_SCHEMA, ServiceConfig
from .errors import ERROR_SCHEMA
from .pagination import LIST_RESPONSE
from .patch import PATCH_OP_SCHEMA
from .schema.attributes import (
    Attribute,
    AttributeType,
    Mutability,
    ResourceType,
    Returned,
    Schema,
)
from .schema.core import COMMON_ATTRIBUTES, GROUP_RESOURCE, USER_RESOURCE

OPENAPI_VERSION = "3.1.0"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
SCIM_JSON = "application/scim+json"
JSON = "application/json"
#: Every ``scimType`` the service puts in an error body (RFC 7644 3.12, RFC 9865).
SCIM_TYPES = (
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
    "invalidCursor",
)
DEFAULT_SERVER = "/scim/v2/organizations/{org}"

Json = dict[str, Any]

_SCALARS: dict[AttributeType, Json] = {
    AttributeType.STRING: {"type": "string"},
    AttributeType.BOOLEAN: {"type": "boolean"},
    AttributeType.DECIMAL: {"type": "number"},
    AttributeType.INTEGER: {"type": "integer"},
    AttributeType.DATETIME: {"type": "string", "format": "date-time"},
    AttributeType.BINARY: {"type": "string", "contentEncoding": "base64"},
    AttributeType.REFERENCE: {"type": "string"},
}

_STATUS_TEXT = {
    400: "Bad request: the SCIM error's scimType says what was wrong "
    "(invalidSyntax, invalidValue, invalidFilter, invalidPath, noTarget, mutability, "
    "invalidCursor).",
    401: "Missing, malformed, unknown, revoked or other-organization bearer token.",
    404: "No such resource (or it was deleted).",
    405: "The method is not allowed here (the Allow header lists the allowed ones).",
    409: "uniqueness: userName / group displayName already taken in the organization.",
    412: "If-Match does not name the resource's current version.",
    413: "The request body is larger than the service accepts.",
    415: "The request body is not application/scim+json or application/json.",
    501: "/Me with a token that names no user (the organization's secret token).",
    503: "The database cannot be reached; retry later.",
}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _response_ref(status: int) -> Json:
    return {"$ref": f"#/components/responses/Error{status}"}


def attribute_schema(attr: Attribute) -> Json:
    """The JSON Schema of one attribute, sub-attributes and characteristics included."""
    value: Json
    if attr.is_complex:
        value = {
            "type": "object",
            "properties": {sub.name: attribute_schema(sub) for sub in attr.sub_attributes},
        }
        required = [s.name for s in attr.sub_attributes if _required_in_requests(s)]
        if required:
            value["required"] = required
    else:
        value = dict(_SCALARS[attr.type])
        if attr.canonical_values:
            value["enum"] = list(attr.canonical_values)
        if _required_in_requests(attr) and value.get("type") == "string":
            value["minLength"] = 1
    out: Json = {"type": "array", "items": value} if attr.multi_valued else value
    if attr.description:
        out["description"] = attr.description
    if attr.mutability is Mutability.READ_ONLY:
        out["readOnly"] = True
    if attr.mutability is Mutability.WRITE_ONLY or attr.returned is Returned.NEVER:
        out["writeOnly"] = True
    out["x-scim-mutability"] = attr.mutability.value
    out["x-scim-returned"] = attr.returned.value
    if attr.uniqueness.value != "none":
        out["x-scim-uniqueness"] = attr.uniqueness.value
    if attr.type in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
        out["x-scim-caseExact"] = attr.case_exact
    if attr.reference_types:
        out["x-scim-referenceTypes"] = list(attr.reference_types)
    return out


def _required_in_requests(attr: Attribute) -> bool:
    return attr.required and attr.mutability is not Mutability.READ_ONLY


def _schema_properties(schema: Schema) -> Json:
    return {a.name: attribute_schema(a) for a in schema.attributes}


def resource_schema(rt: ResourceType, *, request: bool) -> Json:
    """The JSON Schema of a resource of type ``rt``: as returned, or as a POST/PUT body."""
    properties: Json = {
        "schemas": {
            "type": "array",
            "items": {"type": "string", "enum": list(rt.schema_ids)},
            "description": "The schema URNs the resource uses; the core schema is always one.",
        }
    }
    if request:
        properties["schemas"]["minItems"] = 1
        properties["schemas"]["contains"] = {"const": rt.schema.id}
    for common in COMMON_ATTRIBUTES:
        properties[common.name] = attribute_schema(common)
    properties.update(_schema_properties(rt.schema))
    for ext in rt.extensions:
        properties[ext.schema.id] = {
            "type": "object",
            "description": f"The {ext.schema.name} extension ({ext.schema.description}).",
            "properties": _schema_properties(ext.schema),
        }
        ext_required = [a.name for a in ext.schema.attributes if _required_in_requests(a)]
        if ext_required and request:
            properties[ext.schema.id]["required"] = ext_required
    if request:
        required = ["schemas"] + [a.name for a in rt.schema.attributes if _required_in_requests(a)]
        required += [e.schema.id for e in rt.extensions if e.required]
    else:
        required = ["schemas", "id"]
    return {
        "type": "object",
        "description": rt.description,
        "required": required,
        "properties": properties,
        "x-scim-schemas": list(rt.schema_ids),
    }


def _list_response(items: Json) -> Json:
    return {
        "type": "object",
        "description": "A page of results (RFC 7644 3.4.2, cursor paging RFC 9865).",
        "required": ["schemas", "totalResults", "Resources"],
        "properties": {
            "schemas": {"type": "array", "items": {"const": LIST_RESPONSE}},
            "totalResults": {"type": "integer", "minimum": 0},
            "startIndex": {"type": "integer", "minimum": 1},
            "itemsPerPage": {"type": "integer", "minimum": 0},
            "nextCursor": {
                "type": "string",
                "description": "Send as 'cursor' for the next page; absent on the last page.",
            },
            "Resources": {"type": "array", "items": items},
        },
    }


def _error_schema() -> Json:
    return {
        "type": "object",
        "description": "The SCIM error message (RFC 7644 3.12).",
        "required": ["schemas", "status", "detail"],
        "properties": {
            "schemas": {"type": "array", "items": {"const": ERROR_SCHEMA}, "minItems": 1},
            "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
            "scimType": {"type": "string", "enum": list(SCIM_TYPES)},
            "detail": {"type": "string"},
        },
    }


def _patch_op_schema() -> Json:
    return {
        "type": "object",
        "description": "A PATCH request (RFC 7644 3.5.2); all operations apply or none.",
        "required": ["schemas", "Operations"],
        "properties": {
            "schemas": {
                "type": "array",
                "items": {"const": PATCH_OP_SCHEMA},
                "minItems": 1,
            },
            "Operations": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["op"],
                    "properties": {
                        "op": {
                            "type": "string",
                            "enum": ["add", "replace", "remove"],
                            "description": "Matched case-insensitively (Entra ID sends 'Add').",
                        },
                        "path": {
                            "type": "string",
                            "description": "An attribute path (RFC 7644 3.10), optionally "
                            'with a value filter: emails[type eq "work"].value.',
                        },
                        "value": {"description": "Required for add and replace."},
                    },
                },
            },
        },
    }


def _bulk_schemas(config: ServiceConfig) -> dict[str, Json]:
    """BulkRequest / BulkResponse (RFC 7644 3.7)."""
    method = {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE"]}
    return {
        "BulkRequest": {
            "type": "object",
            "description": "Operations run one by one, each as its own request (RFC 7644 3.7); "
            "bulkId:<id> as a path segment, or as the whole value (or $ref) of a members or "
            "manager reference in data, names a resource a POST of this request created.",
            "required": ["schemas", "Operations"],
            "properties": {
                "schemas": {"type": "array", "items": {"const": BULK_REQUEST}, "minItems": 1},
                "failOnErrors": {"type": "integer", "minimum": 1},
                "Operations": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": config.max_bulk_operations,
                    "items": {
                        "type": "object",
                        "required": ["method", "path"],
                        "properties": {
                            "method": method,
                            "path": {"type": "string"},
                            "bulkId": {"type": "string"},
                            "version": {"type": "string"},
                            "data": {},
                        },
                    },
                },
            },
        },
        "BulkResponse": {
            "type": "object",
            "required": ["schemas", "Operations"],
            "properties": {
                "schemas": {"type": "array", "items": {"const": BULK_RESPONSE}},
                "Operations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {
                            "method": {"type": "string"},
                            "bulkId": {"type": "string"},
                            "version": {"type": "string"},
                            "location": {"type": "string"},
                            "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
                            "response": _ref("Error"),
                        },
                    },
                },
            },
        },
    }


def _bulk_and_me_paths(users: ResourceType | None) -> dict[str, Json]:
    paths: dict[str, Json] = {
        "/Bulk": {
            "post": {
                "operationId": "bulk",
                "summary": "Run several operations (RFC 7644 3.7); each reports its own status.",
                "tags": ["Bulk"],
                "requestBody": _request_body(_ref("BulkRequest")),
                "responses": {
                    "200": {
                        "description": "The result of every operation that ran.",
                        "content": _content(_ref("BulkResponse")),
                    },
                    **_errors(400, 413, 415),
                },
            }
        }
    }
    if users is None:
        return paths
    me = "The User the bearer JWT's sub names (RFC 7644 3.11)."
    paths["/Me"] = {
        "get": {
            "operationId": "getMe",
            "summary": me,
            "tags": ["Me"],
            "parameters": _params("attributes", "excludedAttributes"),
            "responses": {
                "200": _resource_response(users.name, "The authenticated user."),
                **_errors(400, 404, 501),
            },
        },
        "put": {
            "operationId": "replaceMe",
            "summary": me,
            "tags": ["Me"],
            "requestBody": _request_body(_ref(f"{users.name}Request")),
            "responses": {
                "200": _resource_response(users.name, "The replaced user."),
                **_errors(400, 404, 409, 412, 413, 415, 501),
            },
        },
        "patch": {
            "operationId": "patchMe",
            "summary": me,
            "tags": ["Me"],
            "requestBody": _request_body(_ref("PatchOp")),
            "responses": {
                "200": _resource_response(users.name, "The patched user."),
                **_errors(400, 404, 409, 412, 413, 415, 501),
            },
        },
        "delete": {
            "operationId": "deleteMe",
            "summary": me,
            "tags": ["Me"],
            "responses": {
                "204": {"description": "The user was deleted."},
                **_errors(404, 412, 501),
            },
        },
        "post": {
            "operationId": "postMe",
            "summary": "Not supported: create users at /Users.",
            "tags": ["Me"],
            "responses": _errors(405, 501),
        },
    }
    return paths


def _search_request_schema() -> Json:
    names: Json = {
        "description": "Attribute names: an array, or one comma-separated string.",
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string"},
        ],
    }
    return {
        "type": "object",
        "description": "A query sent as a body (RFC 7644 3.4.3).",
        "required": ["schemas"],
        "properties": {
            "schemas": {
                "type": "array",
                "items": {"type": "string"},
                "contains": {"const": SEARCH_REQUEST},
            },
            "attributes": names,
            "excludedAttributes": names,
            "filter": {"type": "string"},
            "sortBy": {"type": "string"},
            "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
            "startIndex": {"type": "integer"},
            "count": {"type": "integer"},
            "cursor": {"type": "string"},
        },
    }


def _discovery_schemas() -> dict[str, Json]:
    meta = {
        "type": "object",
        "properties": {
            "resourceType": {"type": "string"},
            "location": {"type": "string"},
        },
    }
    attribute: Json = {
        "type": "object",
        "required": ["name", "type", "multiValued", "required", "mutability", "returned"],
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": [t.value for t in AttributeType]},
            "multiValued": {"type": "boolean"},
            "description": {"type": "string"},
            "required": {"type": "boolean"},
            "caseExact": {"type": "boolean"},
            "canonicalValues": {"type": "array", "items": {"type": "string"}},
            "referenceTypes": {"type": "array", "items": {"type": "string"}},
            "mutability": {"type": "string", "enum": [m.value for m in Mutability]},
            "returned": {"type": "string", "enum": [r.value for r in Returned]},
            "uniqueness": {"type": "string", "enum": ["none", "server", "global"]},
            "subAttributes": {"type": "array", "items": _ref("SchemaAttribute")},
        },
    }
    feature = {
        "type": "object",
        "required": ["supported"],
        "properties": {"supported": {"type": "boolean"}},
    }
    return {
        "SchemaAttribute": attribute,
        "SchemaResource": {
            "type": "object",
            "description": "A schema definition (RFC 7643 7).",
            "required": ["schemas", "id", "attributes"],
            "properties": {
                "schemas": {"type": "array", "items": {"const": SCHEMA_SCHEMA}},
                "id": {"type": "string"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "attributes": {"type": "array", "items": _ref("SchemaAttribute")},
                "meta": meta,
            },
        },
        "ResourceType": {
            "type": "object",
            "description": "A resource type (RFC 7643 6).",
            "required": ["schemas", "id", "name", "endpoint", "schema"],
            "properties": {
                "schemas": {"type": "array", "items": {"const": RESOURCE_TYPE_SCHEMA}},
                "id": {"type": "string"},
                "name": {"type": "string"},
                "endpoint": {"type": "string"},
                "description": {"type": "string"},
                "schema": {"type": "string"},
                "schemaExtensions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["schema", "required"],
                        "properties": {
                            "schema": {"type": "string"},
                            "required": {"type": "boolean"},
                        },
                    },
                },
                "meta": meta,
            },
        },
        "ServiceProviderConfig": {
            "type": "object",
            "description": "What the service supports (RFC 7643 5).",
            "required": [
                "schemas",
                "patch",
                "bulk",
                "filter",
                "changePassword",
                "sort",
                "etag",
                "authenticationSchemes",
            ],
            "properties": {
                "schemas": {"type": "array", "items": {"const": SPC_SCHEMA}},
                "documentationUri": {"type": "string"},
                "patch": feature,
                "bulk": {
                    "type": "object",
                    "required": ["supported", "maxOperations", "maxPayloadSize"],
                    "properties": {
                        "supported": {"type": "boolean"},
                        "maxOperations": {"type": "integer"},
                        "maxPayloadSize": {"type": "integer"},
                    },
                },
                "filter": {
                    "type": "object",
                    "required": ["supported", "maxResults"],
                    "properties": {
                        "supported": {"type": "boolean"},
                        "maxResults": {"type": "integer"},
                    },
                },
                "changePassword": feature,
                "sort": feature,
                "etag": feature,
                "pagination": {"type": "object"},
                "authenticationSchemes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "name", "description"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "description": {"type": "string"},
                            "specUri": {"type": "string"},
                            "documentationUri": {"type": "string"},
                            "primary": {"type": "boolean"},
                        },
                    },
                },
                "meta": meta,
            },
        },
    }


def _parameters(config: ServiceConfig) -> dict[str, Json]:
    def query(name: str, description: str, schema: Json) -> Json:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    return {
        "filter": query(
            "filter",
            'A filter expression (RFC 7644 3.4.2.2), e.g. userName eq "bjensen".',
            {"type": "string"},
        ),
        "sortBy": query("sortBy", "The attribute path to sort by.", {"type": "string"}),
        "sortOrder": query(
            "sortOrder",
            "ascending (default) or descending.",
            {"type": "string", "enum": ["ascending", "descending"]},
        ),
        "startIndex": query(
            "startIndex",
            "1-based index of the first result (index paging); values below 1 read as 1.",
            {"type": "integer"},
        ),
        "count": query(
            "count",
            f"Page size; at most {config.max_page_size} are returned, "
            f"{config.default_page_size} by default.",
            {"type": "integer"},
        ),
        "cursor": query(
            "cursor",
            "Cursor paging (RFC 9865): empty for the first page, then each nextCursor. "
            "Not together with startIndex.",
            {"type": "string"},
        ),
        "attributes": query(
            "attributes",
            "Comma-separated attribute paths: return only these (and those returned always).",
            {"type": "string"},
        ),
        "excludedAttributes": query(
            "excludedAttributes",
            "Comma-separated attribute paths to leave out of the default set.",
            {"type": "string"},
        ),
        "id": {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "The resource id.",
            "schema": {"type": "string", "minLength": 1},
        },
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "description": "Apply only if the resource still has this version (an ETag, or *); "
            "otherwise 412.",
            "schema": {"type": "string"},
        },
        "IfNoneMatch": {
            "name": "If-None-Match",
            "in": "header",
            "description": "Answer 304 without a body if the resource still has this version.",
            "schema": {"type": "string"},
        },
    }


def _params(*names: str) -> list[Json]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _content(schema: Json) -> Json:
    return {SCIM_JSON: {"schema": schema}}


def _request_body(schema: Json) -> Json:
    return {"required": True, "content": {SCIM_JSON: {"schema": schema}, JSON: {"schema": schema}}}


_ETAG = {
    "ETag": {
        "description": "The resource's version (meta.version), a weak entity tag.",
        "required": True,
        "schema": {"type": "string"},
    }
}
_LOCATION = {
    "Location": {
        "description": "The resource's URL (meta.location).",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _resource_response(name: str, description: str, *, location: bool = False) -> Json:
    headers = {**_ETAG, **(_LOCATION if location else {})}
    return {"description": description, "headers": headers, "content": _content(_ref(name))}


def _errors(*statuses: int) -> Json:
    return {str(s): _response_ref(s) for s in (*statuses, 401, 503)}


def _resource_paths(rt: ResourceType) -> dict[str, Json]:
    name = rt.name
    tag = [rt.name]
    group_like = rt is GROUP_RESOURCE or rt.schema.attribute("members") is not None
    listing = _ref(f"{name}ListResponse")
    body = _request_body(_ref(f"{name}Request"))
    patch_responses: Json = {
        "200": _resource_response(name, f"The patched {name}."),
    }
    if group_like:
        patch_responses["200"]["description"] = (
            f"The patched {name}, when attributes or excludedAttributes is given."
        )
        patch_responses["204"] = {
            "description": f"The {name} was patched (no body unless a projection is asked for).",
            "headers": {**_ETAG, **_LOCATION},
        }
    return {
        rt.endpoint: {
            "get": {
                "operationId": f"list{name}s",
                "summary": f"List or filter {name} resources (RFC 7644 3.4.2).",
                "tags": tag,
                "parameters": _params(
                    "filter",
                    "sortBy",
                    "sortOrder",
                    "startIndex",
                    "count",
                    "cursor",
                    "attributes",
                    "excludedAttributes",
                ),
                "responses": {
                    "200": {"description": "A page of results.", "content": _content(listing)},
                    **_errors(400),
                },
            },
            "post": {
                "operationId": f"create{name}",
                "summary": f"Create a {name} (RFC 7644 3.3).",
                "tags": tag,
                "parameters": _params("attributes", "excludedAttributes"),
                "requestBody": body,
                "responses": {
                    "201": _resource_response(name, f"The created {name}.", location=True),
                    **_errors(400, 409, 413, 415),
                },
            },
        },
        f"{rt.endpoint}/{{id}}": {
            "parameters": _params("id"),
            "get": {
                "operationId": f"get{name}",
                "summary": f"Read a {name} (RFC 7644 3.4.1).",
                "tags": tag,
                "parameters": _params("attributes", "excludedAttributes", "IfNoneMatch"),
                "responses": {
                    "200": _resource_response(name, f"The {name}.", location=True),
                    "304": {
                        "description": "If-None-Match names the current version.",
                        "headers": _ETAG,
                    },
                    **_errors(400, 404),
                },
            },
            "put": {
                "operationId": f"replace{name}",
                "summary": f"Replace a {name}'s writable attributes (RFC 7644 3.5.1).",
                "tags": tag,
                "parameters": _params("attributes", "excludedAttributes", "IfMatch"),
                "requestBody": body,
                "responses": {
                    "200": _resource_response(name, f"The replaced {name}.", location=True),
                    **_errors(400, 404, 409, 412, 413, 415),
                },
            },
            "patch": {
                "operationId": f"patch{name}",
                "summary": f"Modify a {name} with PATCH operations (RFC 7644 3.5.2).",
                "tags": tag,
                "parameters": _params("attributes", "excludedAttributes", "IfMatch"),
                "requestBody": _request_body(_ref("PatchOp")),
                "responses": {**patch_responses, **_errors(400, 404, 409, 412, 413, 415)},
            },
            "delete": {
                "operationId": f"delete{name}",
                "summary": f"Delete a {name} (RFC 7644 3.6).",
                "tags": tag,
                "parameters": _params("IfMatch"),
                "responses": {
                    "204": {"description": f"The {name} was deleted."},
                    **_errors(404, 412),
                },
            },
        },
        f"{rt.endpoint}/.search": {
            "post": {
                "operationId": f"search{name}s",
                "summary": f"Query {name} resources with a SearchRequest body (RFC 7644 3.4.3).",
                "tags": tag,
                "requestBody": _request_body(_ref("SearchRequest")),
                "responses": {
                    "200": {"description": "A page of results.", "content": _content(listing)},
                    **_errors(400, 413, 415),
                },
            },
        },
    }


def _discovery_paths() -> dict[str, Json]:
    tag = ["Discovery"]

    def listing(item: str) -> Json:
        return {"description": "All of them.", "content": _content(_ref(f"{item}ListResponse"))}

    def one(item: str, what: str) -> Json:
        return {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "description": f"The {what}'s id.",
                    "schema": {"type": "string", "minLength": 1},
                }
            ],
            "get": {
                "operationId": f"get{item}",
                "summary": f"One {what}.",
                "tags": tag,
                "responses": {
                    "200": {"description": f"The {what}.", "content": _content(_ref(item))},
                    **_errors(404),
                },
            },
        }

    return {
        "/ServiceProviderConfig": {
            "get": {
                "operationId": "getServiceProviderConfig",
                "summary": "The service's features and limits (RFC 7644 4).",
                "tags": tag,
                "responses": {
                    "200": {
                        "description": "The configuration.",
                        "content": _content(_ref("ServiceProviderConfig")),
                    },
                    **_errors(),
                },
            }
        },
        "/ResourceTypes": {
            "get": {
                "operationId": "listResourceTypes",
                "summary": "The resource types (RFC 7644 4).",
                "tags": tag,
                "responses": {"200": listing("ResourceType"), **_errors()},
            }
        },
        "/ResourceTypes/{id}": one("ResourceType", "resource type"),
        "/Schemas": {
            "get": {
                "operationId": "listSchemas",
                "summary": "The schemas (RFC 7644 4).",
                "tags": tag,
                "responses": {"200": listing("SchemaResource"), **_errors()},
            }
        },
        "/Schemas/{id}": one("SchemaResource", "schema"),
    }


def _server(url: str, default_org: str) -> Json:
    server: Json = {"url": url, "description": "The tenant URL of one organization."}
    if "{org}" in url:
        server["variables"] = {
            "org": {"default": default_org, "description": "The organization's slug."}
        }
    return server


def openapi_document(
    resource_types: Iterable[ResourceType] = (USER_RESOURCE, GROUP_RESOURCE),
    *,
    config: ServiceConfig | None = None,
    server_url: str = DEFAULT_SERVER,
    default_org: str = "default",
    title: str = "SCIM 2.0 service provider",
    version: str = "1",
) -> Json:
    """The OpenAPI 3.1 document of the SCIM API over ``resource_types``.

    ``server_url`` is the tenant URL with ``{org}`` in place of the organization's
    slug (``default_org`` is the variable's default); paths are relative to it.
    """
    config = config or ServiceConfig()
    types = list(resource_types)
    schemas: dict[str, Json] = {}
    paths: dict[str, Json] = {}
    for rt in types:
        schemas[rt.name] = resource_schema(rt, request=False)
        schemas[f"{rt.name}Request"] = resource_schema(rt, request=True)
        schemas[f"{rt.name}ListResponse"] = _list_response(_ref(rt.name))
        paths.update(_resource_paths(rt))
    any_resource = {"anyOf": [_ref(rt.name) for rt in types]}
    paths["/.search"] = {
        "post": {
            "operationId": "searchAll",
            "summary": "Query every resource type at once (RFC 7644 3.4.3); no cursor paging.",
            "tags": ["Search"],
            "requestBody": _request_body(_ref("SearchRequest")),
            "responses": {
                "200": {
                    "description": "A page of results of any type.",
                    "content": _content(_ref("ListResponse")),
                },
                **_errors(400, 413, 415),
            },
        }
    }
    paths.update(_discovery_paths())
    paths.update(_bulk_and_me_paths(next((rt for rt in types if rt.id == "User"), None)))
    schemas.update(_bulk_schemas(config))
    schemas["ListResponse"] = _list_response(any_resource)
    schemas["Error"] = _error_schema()
    schemas["PatchOp"] = _patch_op_schema()
    schemas["SearchRequest"] = _search_request_schema()
    discovery = _discovery_schemas()
    schemas.update(discovery)
    schemas["ResourceTypeListResponse"] = _list_response(_ref("ResourceType"))
    schemas["SchemaResourceListResponse"] = _list_response(_ref("SchemaResource"))
    responses = {
        f"Error{status}": {
            "description": text,
            "content": _content(_ref("Error")),
            **(
                {
                    "headers": {
                        "WWW-Authenticate": {
                            "description": "The bearer challenge (RFC 6750).",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    }
                }
                if status == 401
                else {}
            ),
        }
        for status, text in _STATUS_TEXT.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": "SCIM 2.0 (RFC 7643, RFC 7644) for one organization; generated from "
            "the service's schema registry. Requests may be application/scim+json or "
            "application/json; responses are application/scim+json.",
        },
        "servers": [_server(server_url, default_org)],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": rt.name} for rt in types]
        + [{"name": n} for n in ("Search", "Bulk", "Me", "Discovery")],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": _parameters(config),
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The organization's secret token (scim_...) or a "
                    "configured JWT (RFC 6750).",
                }
            },
        },
    }
