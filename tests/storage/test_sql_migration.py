"""The alembic migrations build exactly the schema of ``tables.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from scimcore.storage.migrate import alembic_config, upgrade
from scimcore.storage.sql import make_engine
from scimcore.storage.sql.tables import metadata


def _head() -> str | None:
    """The newest revision in alembic/versions (so a new migration needs no edit here)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _check(url: str) -> None:
    upgrade(url)
    assert _diff(url) == []
    upgrade(url)  # idempotent: already at head
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                _head()
            )
            names = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= names


def test_sqlite_upgrade_matches_metadata(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_matches_metadata(fresh_postgres: Any) -> None:
    _check(fresh_postgres.create())
