"""A migrated database per backend (SQLite, and PostgreSQL when configured), an
organization with integrations, a key ring, a controllable clock and the vault."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from scimcore.accounts import Integration, IntegrationSettings, KeyRing
from scimcore.adapters.connectors.credentials import CredentialVault
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.credentials import SqlCredentialStore


class Clock:
    """Now, as the vault sees it; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def credential_engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest,
    credential_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> Engine:
    kind = request.param
    if kind not in credential_engines:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('vault') / 'vault.db'}"
        else:
            url = request.getfixturevalue("migrated_postgres_url")
        credential_engines[kind] = make_engine(url)
        upgrade(credential_engines[kind])
    return credential_engines[kind]


@dataclass
class Org:
    id: str
    slug: str
    store: SqlStore
    integrations: list[Integration]

    def add_integration(self, name: str) -> Integration:
        with SqlAccountStore(self.store.engine).accounts(self.id) as session:
            integration = session.create_integration(name, "scim2", IntegrationSettings())
        self.integrations.append(integration)
        return integration

    def status(self, integration_id: int) -> str | None:
        return SqlCredentialStore(self.store.engine).status(integration_id)


@pytest.fixture
def org(engine: Engine) -> Org:
    store = SqlStore(engine)
    slug = f"vault-{uuid.uuid4().hex[:10]}"
    organization = store.create_organization(slug, "Vault test")
    result = Org(organization.id, slug, store, [])
    result.add_integration("Downstream")
    return result


@pytest.fixture
def key() -> str:
    return KeyRing.generate_key()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault(engine: Engine, key: str, clock: Clock) -> CredentialVault:
    return CredentialVault(SqlCredentialStore(engine), KeyRing([key]), clock=clock)
