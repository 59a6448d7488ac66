"""Events name a service account by ``integration:accountId``: up to 276 characters.

Revision ID: 0011
Revises: 0008
Create Date: 2026-01-12 00:00:00

``events.resource_id`` was VARCHAR(64), but an accountId may have 256 characters, so
on PostgreSQL linking such an account failed (its event could not be written) and the
CSV row was reported as a conflict. The column becomes VARCHAR(320). On PostgreSQL
widening a VARCHAR changes only the catalog. SQLite does not enforce the length, so
only the declared type in the table's schema text is updated (same TEXT affinity,
nothing on disk changes), as SQLite documents for changes that leave the stored
format alone; rebuilding the table would rewrite every event.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NARROW = "resource_id VARCHAR(64) NOT NULL"
_WIDE = "resource_id VARCHAR(320) NOT NULL"


def _sqlite_declared_type(old: str, new: str) -> None:
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' "
        "AND name = 'events'",
        (old, new),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    """Widen events.resource_id to 320 characters."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declared_type(_NARROW, _WIDE)
        return
    op.alter_column(
        "events",
        "resource_id",
        type_=sa.String(320),
        existing_type=sa.String(64),
        existing_nullable=False,
    )


def downgrade() -> None:
    """Back to 64 characters (fails on PostgreSQL while a longer id is stored)."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declared_type(_WIDE, _NARROW)
        return
    op.alter_column(
        "events",
        "resource_id",
        type_=sa.String(64),
        existing_type=sa.String(320),
        existing_nullable=False,
    )
