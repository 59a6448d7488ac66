"""The one place the service's parts are built from the settings.

The app factory, the console, the OAuth views and every CLI command ask
:func:`build` (or :func:`parts_for`, around a store an app already has) for the stores,
the key ring, the credential vault and the OAuth flow, instead of constructing them:
which class backs each part, and over which database, is decided here and nowhere else.
It is also the only module of ``scimserver`` that imports ``scimcore.storage.sql``
(``tests/test_layering.py`` holds the rest of the package to that).

An application that embeds the service on a store of its own (not SQL) gets the SCIM
API only: :attr:`Parts.sql` is ``None``, and the console, the OAuth views and the
provisioning commands, which need the SQL tables, are not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from scimcore import Store
from scimcore.accounts import AccountStore, KeyRing
from scimcore.adapters.connectors.credential_source import VaultCredentials
from scimcore.adapters.connectors.credentials import CredentialVault
from scimcore.adapters.connectors.oauth_flow import OAuthFlow
from scimcore.ratelimit import MemoryRateLimitStore, RateLimitStore
from scimcore.schema.attributes import ResourceType
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.activity import SqlActivity
from scimcore.storage.sql.admins import SqlAdminStore
from scimcore.storage.sql.credentials import (
    RotationReport,
    SqlCredentialStore,
    SqlFlowStore,
    reencrypt_secrets,
)
from scimcore.storage.sql.dashboard import SqlDashboard
from scimcore.storage.sql.directory_views import SqlDirectoryViews
from scimcore.storage.sql.integration_views import SqlIntegrationViews
from scimcore.storage.sql.leavers import SqlLeavers
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.ratelimit import SqlRateLimitStore
from scimcore.storage.sql.schedule import SqlSyncSchedule

from .config import Settings

DEFAULT_RESOURCE_TYPES: tuple[ResourceType, ...] = (USER_RESOURCE, GROUP_RESOURCE)


class NeedsSql(Exception):
    """A part that only the SQL store has was asked of another store."""


@dataclass(frozen=True)
class SqlParts:
    """The parts that live in the SQL store's database, one object each, shared."""

    store: SqlStore

    @cached_property
    def accounts(self) -> SqlAccountStore:
        return SqlAccountStore(self.store.engine)

    @cached_property
    def provisioning(self) -> SqlProvisioningStore:
        return SqlProvisioningStore(self.store.engine)

    @cached_property
    def activity(self) -> SqlActivity:
        return SqlActivity(self.store.engine)

    @cached_property
    def directory_views(self) -> SqlDirectoryViews:
        return SqlDirectoryViews(self.store.engine)

    @cached_property
    def integration_views(self) -> SqlIntegrationViews:
        return SqlIntegrationViews(self.store.engine)

    @cached_property
    def dashboard(self) -> SqlDashboard:
        return SqlDashboard(self.store.engine)

    @cached_property
    def leavers(self) -> SqlLeavers:
        """Leavers' accounts: "Deprovision now" and exceptions (console and CLI)."""
        return SqlLeavers(self.store.engine)

    @cached_property
    def admins(self) -> SqlAdminStore:
        return SqlAdminStore(self.store.engine)

    @cached_property
    def credentials(self) -> SqlCredentialStore:
        return SqlCredentialStore(self.store.engine)

    @cached_property
    def flows(self) -> SqlFlowStore:
        return SqlFlowStore(self.store.engine)

    @cached_property
    def schedule(self) -> SqlSyncSchedule:
        return SqlSyncSchedule(self.store.engine)

    @cached_property
    def rate_limits(self) -> SqlRateLimitStore:
        return SqlRateLimitStore(self.store.engine)

    def reencrypt_secrets(self, keyring: KeyRing) -> RotationReport:
        """Every stored secret re-encrypted under the key ring's first key."""
        return reencrypt_secrets(self.store.engine, keyring)


@dataclass(frozen=True)
class Parts:
    """What the settings and the store make; see the module docstring."""

    settings: Settings
    store: Store
    sql: SqlParts | None

    @cached_property
    def keyring(self) -> KeyRing | None:
        """The key ring of ``SCIMSERVER_SECRET_KEYS``; ``None`` when none is set."""
        keys = self.settings.secret_keys
        return KeyRing(keys) if keys else None

    @property
    def database(self) -> str | None:
        """``sqlite`` or ``postgresql`` for the SQL store; ``None`` for another store."""
        return self.sql.store.engine.dialect.name if self.sql is not None else None

    @property
    def single_connection(self) -> bool:
        """An in-memory SQLite database: its one shared connection cannot serve a second
        thread's transaction while a request runs (background work must run inline)."""
        from sqlalchemy.pool import StaticPool

        return self.sql is not None and isinstance(self.sql.store.engine.pool, StaticPool)

    def close(self) -> None:
        """Release the database connections (a command that built these parts ends)."""
        if self.sql is not None:
            self.sql.store.engine.dispose()

    def need_sql(self, what: str) -> SqlParts:
        if self.sql is None:
            raise NeedsSql(f"{what} needs the SQL store (SCIMSERVER_DATABASE_URL)")
        return self.sql

    @property
    def accounts(self) -> AccountStore:
        return self.need_sql("service accounts").accounts

    @property
    def provisioning(self) -> SqlProvisioningStore:
        return self.need_sql("provisioning").provisioning

    @cached_property
    def vault(self) -> CredentialVault:
        """Connector secrets, sealed with the key ring (which they need to be stored)."""
        return CredentialVault(self.need_sql("the credential vault").credentials, self.keyring)

    @cached_property
    def credential_source(self) -> VaultCredentials:
        """What the worker and discovery authenticate connectors with."""
        return VaultCredentials(self.vault)

    def oauth_flow(self) -> OAuthFlow | None:
        """The OAuth "Integrate" flow; ``None`` on a store other than SQL."""
        if self.sql is None:
            return None
        return OAuthFlow(self.vault, self.sql.flows)

    @cached_property
    def rate_limit_store(self) -> RateLimitStore:
        """Where the rate limits count: the SQL database, which every worker and instance
        shares (docs/security.md, "Rate limits"); this process's memory otherwise."""
        return self.sql.rate_limits if self.sql is not None else MemoryRateLimitStore()


def build(
    settings: Settings, resource_types: Sequence[ResourceType] = DEFAULT_RESOURCE_TYPES
) -> Parts:
    """The SQL store for ``settings.database_url`` (migrated first for a local SQLite
    file, unless ``auto_migrate`` is off) and everything over it."""
    from scimcore.storage.migrate import upgrade

    engine = make_engine(settings.database_url, prepared_statements=settings.prepared_statements)
    if settings.auto_migrate and settings.database_url.startswith("sqlite"):
        upgrade(engine)
    return parts_for(settings, SqlStore(engine, resource_types))


def setup_problem(exc: BaseException) -> bool:
    """Whether ``exc`` is fixed by installing something (a database driver, the package's
    migrations), so a command says it in one line instead of a traceback."""
    from scimcore.storage.migrate import MigrationsNotFound
    from scimcore.storage.sql.engine import DatabaseDriverMissing

    return isinstance(exc, DatabaseDriverMissing | MigrationsNotFound)


def require_driver(database_url: str) -> None:
    """Fail now, in one line, when the URL's database driver is not installed."""
    from scimcore.storage.sql.engine import require_driver as check

    check(database_url)


def parts_for(settings: Settings, store: Store) -> Parts:
    """The parts around a store built elsewhere (an embedding application's)."""
    return Parts(settings, store, SqlParts(store) if isinstance(store, SqlStore) else None)
