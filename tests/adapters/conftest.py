"""An organization with the sample's users and services, on SQLite and PostgreSQL.

Each backend's database is migrated once per session; every test gets its own
organization, so tests never see each other's data.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scimcore.accounts import IntegrationSettings, KeyRing
from scimcore.adapters.csv import (
    ImportOptions,
    ImportReport,
    ServiceAccountImporter,
    UserImporter,
    export_service_accounts,
    export_users,
)
from scimcore.schema.core import USER_RESOURCE
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.tables import service_accounts

#: Byte-exact copies of the CloudGate-format sample files (see docs/csv.md).
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
USERS = ("test@example.com", "hanako.yamada@example.com")
SERVICES: tuple[tuple[str, str, IntegrationSettings], ...] = (
    ("Google Workspace", "google_workspace", IntegrationSettings()),
    ("Microsoft 365", "microsoft_365", IntegrationSettings(license_profiles=("E3 標準", "E5"))),
    ("cybozu.com", "cybozu", IntegrationSettings(license_profiles=("Garoon",))),
    ("社内ポータル", "form_based", IntegrationSettings()),
    ("Slack", "scim2", IntegrationSettings()),
    ("Legacy SCIM", "scim2", IntegrationSettings(scim_user_resource_id_mode="manual")),
)


@pytest.fixture(scope="session")
def adapter_engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest,
    adapter_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> Engine:
    kind = request.param
    if kind not in adapter_engines:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('csv') / 'csv.db'}"
            engine = make_engine(url)
            upgrade(engine)
        else:
            engine = make_engine(request.getfixturevalue("migrated_postgres_url"))
        adapter_engines[kind] = engine
    return adapter_engines[kind]


@dataclass
class Org:
    """One organization and the ways in and out of it."""

    id: str
    store: SqlStore
    accounts: SqlAccountStore
    keyring: KeyRing

    def import_accounts(
        self, data: bytes, *, keyring: KeyRing | bool | None = True, **options: object
    ) -> ImportReport:
        ring = self.keyring if keyring is True else (keyring or None)
        importer = ServiceAccountImporter(
            self.accounts,
            self.id,
            keyring=ring,
            options=ImportOptions(**options),  # type: ignore[arg-type]
        )
        return importer.run(data)

    def import_users(self, data: bytes, **options: object) -> ImportReport:
        importer = UserImporter(
            self.store,
            self.id,
            keyring=self.keyring,
            options=ImportOptions(**options),  # type: ignore[arg-type]
        )
        return importer.run(data)

    def export_accounts(self, **kw: bool) -> str:
        out = io.BytesIO()
        export_service_accounts(self.accounts, self.id, out, **kw)
        return out.getvalue().decode("utf-8")

    def export_users(self, **kw: bool) -> str:
        out = io.BytesIO()
        export_users(self.store, self.id, out, **kw)
        return out.getvalue().decode("utf-8")

    def stored_accounts(self) -> list[dict[str, object]]:
        c = service_accounts.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(service_accounts).where(c.organization_id == self.id).order_by(c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def user(self, user_name: str) -> dict[str, object] | None:
        with self.accounts.accounts(self.id, readonly=True) as session:
            uid = session.user_ids([user_name]).get(user_name.lower())
        if uid is None:
            return None
        with self.store.session(self.id) as session:
            return session.get(USER_RESOURCE.id, uid)

    def user_ids(self) -> dict[str, str]:
        with self.accounts.accounts(self.id, readonly=True) as session:
            return session.user_ids([*USERS, "new@example.com", "other@example.com"])


@pytest.fixture
def org(engine: Engine) -> Org:
    """An organization with the sample users and services (plus a manual-mode SCIM one)."""
    store = SqlStore(engine)
    accounts = SqlAccountStore(engine)
    organization = store.create_organization(f"csv-{uuid.uuid4().hex[:10]}", "CSV test")
    result = Org(organization.id, store, accounts, KeyRing([KeyRing.generate_key()]))
    users = "operation,userName,displayName\r\n" + "".join(
        f"CREATE,{u},{u.split('@')[0]}\r\n" for u in (*USERS, "other@example.com")
    )
    report = result.import_users(users.encode())
    assert report.counts["created"] == 3, report.results
    with accounts.accounts(organization.id) as session:
        for name, kind, settings in SERVICES:
            session.create_integration(name, kind, settings)  # type: ignore[arg-type]
    return result


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()
