"""The examples work as documented: the embedded Flask app serves SCIM, and the custom
store passes the storage contract and reports only committed changes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scimcore.storage.memory import MemoryStore
from scimcore.testing import StorageContract

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


audited = load("audited_store")


class TestAuditedStoreContract(StorageContract):
    @pytest.fixture
    def store(self) -> Any:
        return audited.AuditedStore(MemoryStore(), lambda event: None)


def test_embedded_flask_example_serves_users() -> None:
    example = load("embed_in_flask")
    client = example.app.test_client()
    auth = {"Authorization": f"Bearer {example.token}"}
    created = client.post(
        "/scim/acme/Users", json={"schemas": [USER], "userName": "ex"}, headers=auth
    )
    assert created.status_code == 201
    listed = client.get("/scim/acme/Users", headers=auth).get_json()
    assert [u["userName"] for u in listed["Resources"]] == ["ex"]
    assert client.get("/scim/acme/Users").status_code == 401


def test_audited_store_reports_committed_writes_only() -> None:
    from scimcore import ScimRequest, ScimService

    events: list[Any] = []
    store = audited.AuditedStore(MemoryStore(), events.append)
    org = store.create_organization("acme", "Acme")
    service = ScimService(store)

    def post(user_name: Any) -> int:
        body = f'{{"schemas": ["{USER}"], "userName": {user_name}}}'.encode()
        return service.handle(org, "https://x", ScimRequest("POST", "/Users", body=body)).status

    assert post('"a"') == 201
    assert post('"A"') == 409  # rolled back: no event
    assert [(e.action, e.resource_type) for e in events] == [("created", "User")]
