"""A migrated database with an organization, the SCIM service over it, and fake services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scimcore import ScimService
from scimcore.accounts import IntegrationSettings
from scimcore.adapters.connectors import Auth, BearerAuth
from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.messages import ScimRequest
from scimcore.provisioning.worker import Worker
from scimcore.storage.base import Organization
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.provisioning import SqlProvisioningStore, set_provisioning

from .fakes import FakeScim, Receiver, receiver_server, scim_server


@dataclass
class Env:
    """One organization on a migrated database, with helpers to drive SCIM and the worker."""

    store: SqlStore
    accounts: SqlAccountStore
    prov: SqlProvisioningStore
    service: ScimService
    org: Organization
    auth: dict[int, Auth]

    def scim(self, method: str, path: str, body: Any = None) -> Any:
        import json

        raw = json.dumps(body).encode() if body is not None else b""
        resp = self.service.handle(
            self.org,
            "https://scim.example.com/scim/v2/organizations/x",
            ScimRequest(method, path, {}, raw, "application/scim+json"),
        )
        assert resp.status < 400, resp.body
        return resp.body

    def create_user(self, user_name: str, **attrs: Any) -> str:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"value": user_name, "primary": True, "type": "work"}],
            "active": True,
            **attrs,
        }
        return str(self.scim("POST", "/Users", body)["id"])

    def set_active(self, user_id: str, active: bool) -> None:
        self.scim(
            "PATCH",
            f"/Users/{user_id}",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": active}}],
            },
        )

    def integration(
        self,
        connector: str,
        settings: dict[str, Any],
        *,
        auth: Auth | None = None,
        on_delete: str = "deactivate_remote",
        provisioning: bool = True,
        max_concurrency: int = 4,
        min_interval_ms: int = 0,
    ) -> int:
        with self.accounts.accounts(self.org.id) as session:
            integration = session.create_integration(
                f"svc-{uuid.uuid4().hex[:6]}",
                "scim2" if connector == "scim2" else "manual",
                IntegrationSettings(on_service_account_delete=on_delete),  # type: ignore[arg-type]
            )
        self.prov.bind(
            self.org.id,
            integration.id,
            connector,
            settings,
            max_concurrency=max_concurrency,
            min_interval_ms=min_interval_ms,
        )
        set_provisioning(
            self.store.engine,
            self.org.id,
            integration.id,
            provisioning,
            manual=connector == "manual",
        )
        if auth is not None:
            self.auth[integration.id] = auth
        return integration.id

    def worker(self, **kwargs: Any) -> Worker:
        kwargs.setdefault("timeout", 2.0)
        return Worker(self.prov, StaticCredentials(self.auth), **kwargs)

    def jobs(self) -> list[Any]:
        return sorted(self.prov.jobs(limit=1000), key=lambda j: j.id)

    def make_due(self) -> None:
        """Move every waiting job (and pause) to now: the test does not wait for backoff."""
        import sqlalchemy as sa

        from scimcore.storage.sql.tables import integration_connectors, jobs

        with self.store.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.status == "pending")
                .values(run_after=sa.func.current_timestamp())
            )
            conn.execute(sa.update(integration_connectors).values(paused_until=None))


def make_env(url: str) -> Env:
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    org = store.create_organization(f"org-{uuid.uuid4().hex[:10]}", "Provisioning test")
    return Env(
        store, SqlAccountStore(engine), SqlProvisioningStore(engine), ScimService(store), org, {}
    )


@pytest.fixture
def env(tmp_path: Any) -> Env:
    """SQLite only: fast, for behaviour that does not depend on the database."""
    return make_env(f"sqlite:///{tmp_path / 'prov.db'}")


@pytest.fixture
def any_env(database_url: str) -> Env:
    """Once per backend (SQLite, and PostgreSQL when configured)."""
    return make_env(database_url)


@pytest.fixture
def fake_scim() -> Iterator[FakeScim]:
    with scim_server(FakeScim()) as fake:
        yield fake


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_server(Receiver()) as r:
        yield r


def scim_auth(fake: FakeScim) -> BearerAuth:
    return BearerAuth(fake.token)
