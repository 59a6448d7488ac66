"""Stores for the storage tests: memory, a SQLite file and (when configured) PostgreSQL.

PostgreSQL gets a fresh database with a random name for the test session (dropped at
the end), so tests never see other suites' tables and the migration test starts
from nothing. Set ``SCIMSERVER_TEST_POSTGRES_URL`` to enable it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from scimcore.storage.base import Store
from scimcore.storage.memory import MemoryStore
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlStore, make_engine

POSTGRES_URL_ENV = "SCIMSERVER_TEST_POSTGRES_URL"
SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    return url


class FreshPostgres:
    """Creates uniquely named databases on the configured server and drops them later."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self) -> str:
        name = f"scim_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return make_url(self.admin.url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def fresh_postgres() -> Iterator[FreshPostgres]:
    pg = FreshPostgres(_postgres_admin_url())
    yield pg
    pg.drop_all()


@pytest.fixture(scope="session")
def sql_engines() -> Iterator[dict[str, Engine]]:
    """Lazily created, migrated engines per backend, shared by the whole session."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


def _engine(kind: str, engines: dict[str, Engine], request: pytest.FixtureRequest) -> Engine:
    if kind not in engines:
        if kind == "sqlite":
            path: Path = request.getfixturevalue("tmp_path_factory").mktemp("db") / "scim.db"
            engine = make_engine(f"sqlite:///{path}")
        else:
            pg: FreshPostgres = request.getfixturevalue("fresh_postgres")
            engine = make_engine(pg.create())
        upgrade(engine)
        engines[kind] = engine
    return engines[kind]


@pytest.fixture(params=SQL_BACKENDS)
def sql_engine(request: pytest.FixtureRequest, sql_engines: dict[str, Engine]) -> Engine:
    return _engine(request.param, sql_engines, request)


@pytest.fixture
def sql_store(sql_engine: Engine) -> SqlStore:
    return SqlStore(sql_engine)


_memory = MemoryStore()


@pytest.fixture(params=["memory", *SQL_BACKENDS])
def store(request: pytest.FixtureRequest, sql_engines: dict[str, Engine]) -> Store:
    if request.param == "memory":
        return _memory
    return SqlStore(_engine(request.param, sql_engines, request))
