"""Schemas and resource types declared as data work end to end (examples/custom_schema.py)."""

from __future__ import annotations

from typing import Any

import pytest

from scimcore.errors import InvalidValue
from scimcore.schema.declare import extend, schema_from_dict
from scimserver import Settings, create_app
from tests.conftest import ScimClient, new_org
from tests.server.test_users_api import PATCH, USER, assert_error
from tests.test_examples import load

example = load("custom_schema")
ACME = example.ACME_USER.id
DEVICE = example.DEVICE.id


@pytest.fixture
def acme(database_url: str) -> ScimClient:
    app = create_app(
        Settings(database_url=database_url, public_url="https://scim.example.com"),
        resource_types=example.RESOURCE_TYPES,
    )
    slug, token = new_org(app)
    return ScimClient(app.test_client(), slug, token)


def user(name: str, **acme_attrs: Any) -> dict[str, Any]:
    return {"schemas": [USER, ACME], "userName": name, ACME: acme_attrs}


def test_discovery_lists_the_declared_schema_and_resource_type(acme: ScimClient) -> None:
    schemas = {s["id"] for s in acme.get("/Schemas").get_json()["Resources"]}
    assert {ACME, DEVICE} <= schemas
    types = {r["id"]: r for r in acme.get("/ResourceTypes").get_json()["Resources"]}
    assert types["Device"]["endpoint"] == "/Devices"
    assert {"schema": ACME, "required": False} in types["User"]["schemaExtensions"]
    badge = acme.get(f"/Schemas/{ACME}").get_json()["attributes"][0]
    assert badge["name"] == "badgeNumber" and badge["caseExact"] is True


def test_extension_attributes_are_validated_stored_and_filtered(acme: ScimClient) -> None:
    created = acme.post(
        "/Users",
        user(
            "ann",
            badgeNumber="B-7",
            clearance="Secret",
            startDate="2026-04-01T09:00:00+09:00",
            parkingSpots=2,
        ),
    )
    assert created.status_code == 201, created.get_json()
    stored = created.get_json()[ACME]
    assert stored["clearance"] == "secret" and stored["startDate"] == "2026-04-01T00:00:00.000000Z"
    acme.post("/Users", user("bob", badgeNumber="b-7", parkingSpots=5))
    exact = acme.get(f'/Users?filter={ACME}:badgeNumber eq "B-7"').get_json()
    assert [u["userName"] for u in exact["Resources"]] == ["ann"]  # caseExact
    more = acme.get(f"/Users?filter={ACME}:parkingSpots gt 2").get_json()
    assert [u["userName"] for u in more["Resources"]] == ["bob"]
    ordered = acme.get(f"/Users?sortBy={ACME}:parkingSpots&sortOrder=descending").get_json()
    assert [u["userName"] for u in ordered["Resources"]] == ["bob", "ann"]


def test_extension_attribute_with_wrong_type_is_invalid_value(acme: ScimClient) -> None:
    assert_error(acme.post("/Users", user("x", parkingSpots="two")), 400, "invalidValue")
    assert_error(acme.post("/Users", user("y", clearance="top")), 400, "invalidValue")


def test_extension_attributes_are_patchable(acme: ScimClient) -> None:
    created = acme.post("/Users", user("pat", badgeNumber="P-1")).get_json()
    patched = acme.patch(
        f"/Users/{created['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": f"{ACME}:badgeNumber", "value": "P-2"},
                {"op": "add", "path": f"{ACME}:languages", "value": ["ja", "en"]},
            ],
        },
    )
    assert patched.status_code == 200
    assert patched.get_json()[ACME] == {"badgeNumber": "P-2", "languages": ["ja", "en"]}


def test_new_resource_type_supports_crud_uniqueness_filter_and_patch(acme: ScimClient) -> None:
    device = {"schemas": [DEVICE], "serialNumber": "SN-1", "model": "ThinkPad X1"}
    created = acme.post("/Devices", device)
    assert created.status_code == 201 and created.headers["Location"].endswith(
        f"/Devices/{created.get_json()['id']}"
    )
    assert_error(acme.post("/Devices", {**device, "serialNumber": "sn-1"}), 409, "uniqueness")
    acme.post("/Devices", {"schemas": [DEVICE], "serialNumber": "SN-2", "model": "iPhone"})
    found = acme.get('/Devices?filter=model sw "think"').get_json()
    assert [d["serialNumber"] for d in found["Resources"]] == ["SN-1"]
    did = created.get_json()["id"]
    patched = acme.patch(
        f"/Devices/{did}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "retired", "value": True}]},
    )
    assert patched.get_json()["retired"] is True
    assert acme.delete(f"/Devices/{did}").status_code == 204
    assert acme.get("/Devices").get_json()["totalResults"] == 1


def test_declarations_with_mistakes_are_rejected_with_a_reason() -> None:
    with pytest.raises(InvalidValue, match="URN"):
        schema_from_dict({"id": "Device", "attributes": []})
    with pytest.raises(InvalidValue, match="type"):
        schema_from_dict({"id": "urn:x", "attributes": [{"name": "a", "type": "text"}]})
    with pytest.raises(InvalidValue, match="subAttributes"):
        schema_from_dict({"id": "urn:x", "attributes": [{"name": "a", "type": "complex"}]})
    with pytest.raises(InvalidValue, match="already"):
        extend(example.RESOURCE_TYPES[0], example.ACME_USER)


def test_uniqueness_the_store_cannot_enforce_is_refused() -> None:
    from scimcore.schema.core import USER_RESOURCE
    from scimcore.storage.memory import MemoryStore

    badge = schema_from_dict(
        {
            "id": "urn:x:User",
            "attributes": [{"name": "badge", "type": "string", "uniqueness": "server"}],
        }
    )
    with pytest.raises(InvalidValue, match="uniqueness"):
        MemoryStore([extend(USER_RESOURCE, badge)])
