"""The admin console's fixtures: an app, a tenant, and a browser signed in to it."""

from __future__ import annotations

from typing import Any

import pytest

from scimserver.admin import passwords

from .admin_support import Tenant, make_app, new_admin, new_tenant, sign_in


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap scrypt parameters in tests (they are stored in each hash)."""
    monkeypatch.setattr(passwords, "N", 2**10)
    monkeypatch.setattr(passwords, "P", 1)


@pytest.fixture
def console_app(database_url: str) -> Any:
    return make_app(database_url)


@pytest.fixture
def tenant(console_app: Any) -> Tenant:
    return new_tenant(console_app)


@pytest.fixture
def client(console_app: Any, tenant: Tenant) -> Any:
    """A browser signed in as an administrator of ``tenant`` only."""
    client = console_app.test_client()
    assert sign_in(client, new_admin(console_app, tenant)).status_code == 302
    return client
