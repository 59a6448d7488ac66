"""The OpenAPI document (scimcore.openapi) and its route (/scim/v2/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scimcore.discovery import ServiceConfig
from scimcore.openapi import openapi_document
from scimcore.schema.attributes import (
    Attribute,
    AttributeType,
    Mutability,
    ResourceType,
    Returned,
    Schema,
    SchemaExtension,
)
from scimcore.schema.core import (
    COMMON_ATTRIBUTES,
    ENTERPRISE_USER,
    GROUP,
    GROUP_RESOURCE,
    USER,
)

JSON_TYPES = {
    AttributeType.STRING: "string",
    AttributeType.BOOLEAN: "boolean",
    AttributeType.DECIMAL: "number",
    AttributeType.INTEGER: "integer",
    AttributeType.DATETIME: "string",
    AttributeType.BINARY: "string",
    AttributeType.REFERENCE: "string",
    AttributeType.COMPLEX: "object",
}
TENANT_PATHS = {
    "/Users": {"get", "post"},
    "/Users/{id}": {"get", "put", "patch", "delete"},
    "/Users/.search": {"post"},
    "/Groups": {"get", "post"},
    "/Groups/{id}": {"get", "put", "patch", "delete"},
    "/Groups/.search": {"post"},
    "/.search": {"post"},
    "/ServiceProviderConfig": {"get"},
    "/ResourceTypes": {"get"},
    "/ResourceTypes/{id}": {"get"},
    "/Schemas": {"get"},
    "/Schemas/{id}": {"get"},
    "/Bulk": {"post"},
    "/Me": {"get", "put", "patch", "delete", "post"},
}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = doc["components"][kind][name]
    return node


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.core.errors import InvalidSchema

    assert doc["openapi"] == "3.1.0"
    json.dumps(doc)  # plain JSON all the way down
    schemathesis.openapi.from_dict(doc).validate()
    # The validator is live: the same document with a broken response does not pass.
    broken = json.loads(json.dumps(doc))
    broken["paths"]["/Users"]["get"]["responses"]["200"] = {"content": "nope"}
    with pytest.raises((InvalidSchema, ValueError)):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_ref_resolves_and_every_operation_is_unique(doc: dict[str, Any]) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            # "$ref" is also a SCIM sub-attribute: a property *named* $ref is no reference.
            ref = node.get("$ref")
            if isinstance(ref, str):
                *_, kind, name = ref.split("/")
                assert name in doc["components"][kind], ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_paths_are_the_tenant_endpoints(doc: dict[str, Any]) -> None:
    assert {p: {m for m in item if m in METHODS} for p, item in doc["paths"].items()} == (
        TENANT_PATHS
    )
    (server,) = doc["servers"]
    assert server["url"] == "/scim/v2/organizations/{org}"
    assert server["variables"]["org"]["default"] == "default"


def test_bearer_security_applies_to_every_operation(doc: dict[str, Any]) -> None:
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, method, op in operations(doc):
        assert "security" not in op, (path, method)
        error = resolve(doc, op["responses"]["401"])
        assert error["headers"]["WWW-Authenticate"]["required"] is True


def attributes_of(schema: Schema) -> list[tuple[str, Attribute]]:
    out = []
    for attr in schema.attributes:
        out.append((attr.name, attr))
        out.extend((f"{attr.name}.{s.name}", s) for s in attr.sub_attributes)
    return out


def property_at(node: dict[str, Any], dotted: str) -> dict[str, Any]:
    head, _, sub = dotted.partition(".")
    prop: dict[str, Any] = node["properties"][head]
    if not sub:
        return prop
    inner = prop["items"] if prop.get("type") == "array" else prop
    found: dict[str, Any] = inner["properties"][sub]
    return found


def check_attribute(prop: dict[str, Any], attr: Attribute) -> None:
    value = prop["items"] if attr.multi_valued else prop
    assert (prop["type"] == "array") is attr.multi_valued, attr.name
    assert value["type"] == JSON_TYPES[attr.type], attr.name
    assert prop.get("readOnly", False) is (attr.mutability is Mutability.READ_ONLY), attr.name
    never = attr.mutability is Mutability.WRITE_ONLY or attr.returned is Returned.NEVER
    assert prop.get("writeOnly", False) is never, attr.name
    assert prop["x-scim-mutability"] == attr.mutability.value
    assert prop["x-scim-returned"] == attr.returned.value
    if attr.canonical_values:
        assert value["enum"] == list(attr.canonical_values)
    if attr.type is AttributeType.DATETIME:
        assert value["format"] == "date-time"


@pytest.mark.parametrize("variant", ["", "Request"])
def test_every_user_attribute_is_described(doc: dict[str, Any], variant: str) -> None:
    user = doc["components"]["schemas"][f"User{variant}"]
    for dotted, attr in attributes_of(USER):
        check_attribute(property_at(user, dotted), attr)
    for common in COMMON_ATTRIBUTES:
        check_attribute(user["properties"][common.name], common)
    enterprise = user["properties"][ENTERPRISE_USER.id]
    assert enterprise["type"] == "object"
    for dotted, attr in attributes_of(ENTERPRISE_USER):
        check_attribute(property_at(enterprise, dotted), attr)
    described = set(user["properties"]) - {"schemas", ENTERPRISE_USER.id}
    assert described == {a.name for a in (*COMMON_ATTRIBUTES, *USER.attributes)}
    assert set(enterprise["properties"]) == {a.name for a in ENTERPRISE_USER.attributes}


@pytest.mark.parametrize("variant", ["", "Request"])
def test_every_group_attribute_is_described(doc: dict[str, Any], variant: str) -> None:
    group = doc["components"]["schemas"][f"Group{variant}"]
    for dotted, attr in attributes_of(GROUP):
        check_attribute(property_at(group, dotted), attr)
    assert set(group["properties"]) - {"schemas"} == {
        a.name for a in (*COMMON_ATTRIBUTES, *GROUP.attributes)
    }


def test_password_is_write_only_and_read_only_attributes_are_marked(doc: dict[str, Any]) -> None:
    user = doc["components"]["schemas"]["User"]
    assert user["properties"]["password"]["writeOnly"] is True
    for name in ("id", "meta", "groups"):
        assert user["properties"][name]["readOnly"] is True
    assert property_at(user, "meta.created")["format"] == "date-time"
    manager = user["properties"][ENTERPRISE_USER.id]["properties"]["manager"]
    assert manager["properties"]["displayName"]["readOnly"] is True


def test_required_differs_between_requests_and_responses(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["UserRequest"]["required"] == ["schemas", "userName"]
    assert schemas["GroupRequest"]["required"] == ["schemas", "displayName"]
    # attributes/excludedAttributes may leave anything out of a response but these.
    assert schemas["User"]["required"] == ["schemas", "id"]
    assert schemas["Group"]["required"] == ["schemas", "id"]
    assert schemas["UserRequest"]["properties"]["schemas"]["contains"] == {"const": USER.id}
    assert schemas["User"]["properties"]["schemas"]["items"]["enum"] == [
        USER.id,
        ENTERPRISE_USER.id,
    ]


def test_messages_are_described(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    error = schemas["Error"]
    assert error["required"] == ["schemas", "status", "detail"]
    assert "uniqueness" in error["properties"]["scimType"]["enum"]
    assert "invalidCursor" in error["properties"]["scimType"]["enum"]
    listing = schemas["UserListResponse"]
    assert listing["required"] == ["schemas", "totalResults", "Resources"]
    assert listing["properties"]["Resources"]["items"] == {"$ref": "#/components/schemas/User"}
    assert {"nextCursor", "startIndex", "itemsPerPage"} <= set(listing["properties"])
    patch_op = schemas["PatchOp"]["properties"]["Operations"]["items"]
    assert patch_op["properties"]["op"]["enum"] == ["add", "replace", "remove"]
    search = schemas["SearchRequest"]["properties"]
    assert set(search) == {
        "schemas",
        "attributes",
        "excludedAttributes",
        "filter",
        "sortBy",
        "sortOrder",
        "startIndex",
        "count",
        "cursor",
    }


def test_list_query_parameters(doc: dict[str, Any]) -> None:
    for path in ("/Users", "/Groups"):
        params = [resolve(doc, p) for p in doc["paths"][path]["get"]["parameters"]]
        assert [(p["name"], p["in"]) for p in params] == [
            (name, "query")
            for name in (
                "filter",
                "sortBy",
                "sortOrder",
                "startIndex",
                "count",
                "cursor",
                "attributes",
                "excludedAttributes",
            )
        ]
    sort_order = resolve(doc, {"$ref": "#/components/parameters/sortOrder"})
    assert sort_order["schema"]["enum"] == ["ascending", "descending"]


def codes(op: dict[str, Any]) -> set[str]:
    return set(op["responses"])


def test_status_codes_the_service_returns(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    common = {"401", "503"}
    assert codes(paths["/Users"]["get"]) == {"200", "400"} | common
    assert codes(paths["/Users"]["post"]) == {"201", "400", "409", "413", "415"} | common
    assert codes(paths["/Users/{id}"]["get"]) == {"200", "304", "400", "404"} | common
    assert codes(paths["/Users/{id}"]["put"]) == (
        {"200", "400", "404", "409", "412", "413", "415"} | common
    )
    assert codes(paths["/Users/{id}"]["patch"]) == (
        {"200", "400", "404", "409", "412", "413", "415"} | common
    )
    assert codes(paths["/Groups/{id}"]["patch"]) == (
        {"200", "204", "400", "404", "409", "412", "413", "415"} | common
    )
    assert codes(paths["/Users/{id}"]["delete"]) == {"204", "404", "412"} | common
    assert codes(paths["/.search"]["post"]) == {"200", "400", "413", "415"} | common
    assert codes(paths["/Schemas/{id}"]["get"]) == {"200", "404"} | common
    created = paths["/Users"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    assert created["headers"]["ETag"]["required"] is True


def test_content_types(doc: dict[str, Any]) -> None:
    for path, method, op in operations(doc):
        if "requestBody" in op:
            assert set(op["requestBody"]["content"]) == {
                "application/scim+json",
                "application/json",
            }, (path, method)
        for status, response in op["responses"].items():
            content = resolve(doc, response).get("content")
            if status in ("204", "304"):
                assert content is None
            else:
                assert set(content) == {"application/scim+json"}, (path, method, status)


def test_a_declared_extension_and_resource_type_appear_without_new_code() -> None:
    badge = Schema(
        "urn:example:params:scim:schemas:extension:badge:2.0:User",
        "Badge",
        "Badge data",
        (
            Attribute("badgeNumber", AttributeType.INTEGER, required=True),
            Attribute("issued", AttributeType.DATETIME, mutability=Mutability.IMMUTABLE),
        ),
    )
    users = ResourceType(
        "User",
        "User",
        "/Users",
        "User Account",
        USER,
        (SchemaExtension(ENTERPRISE_USER), SchemaExtension(badge, required=True)),
    )
    devices = ResourceType(
        "Device",
        "Device",
        "/Devices",
        "A device",
        Schema(
            "urn:example:params:scim:schemas:core:2.0:Device",
            "Device",
            "A device",
            (Attribute("serial", AttributeType.STRING, required=True),),
        ),
    )
    doc = openapi_document(
        [users, GROUP_RESOURCE, devices],
        config=ServiceConfig(max_page_size=7),
        server_url="https://scim.example.com/scim/v2/organizations/{org}",
    )
    request = doc["components"]["schemas"]["UserRequest"]
    assert badge.id in request["required"]
    assert request["properties"][badge.id]["required"] == ["badgeNumber"]
    assert request["properties"][badge.id]["properties"]["badgeNumber"]["type"] == "integer"
    assert {"/Devices", "/Devices/{id}", "/Devices/.search"} <= set(doc["paths"])
    assert doc["components"]["schemas"]["DeviceRequest"]["required"] == ["schemas", "serial"]
    root = doc["components"]["schemas"]["ListResponse"]["properties"]["Resources"]["items"]
    assert {"$ref": "#/components/schemas/Device"} in root["anyOf"]
    assert "at most 7" in doc["components"]["parameters"]["count"]["description"]


# -- the route ------------------------------------------------------------------------------


def test_the_service_serves_the_document_without_authentication(app: Any) -> None:
    client = app.test_client()
    response = client.get("/scim/v2/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served = response.get_json()
    service = app.extensions["scimcore"]["service"]
    assert served == openapi_document(
        service.resource_types.values(),
        config=service.config,
        server_url="https://scim.example.com/scim/v2/organizations/{org}",
    )
    assert client.post("/scim/v2/openapi.json").status_code == 405
    assert client.delete("/scim/v2/openapi.json").status_code == 405


def test_bulk_and_me_are_documented_with_their_limits() -> None:
    doc = openapi_document()
    assert "post" in doc["paths"]["/Bulk"]
    bulk = doc["components"]["schemas"]["BulkRequest"]
    assert bulk["properties"]["Operations"]["maxItems"] == 1000
    assert set(doc["paths"]["/Me"]) == {"get", "put", "patch", "delete", "post"}
    assert "501" in doc["paths"]["/Me"]["get"]["responses"]
