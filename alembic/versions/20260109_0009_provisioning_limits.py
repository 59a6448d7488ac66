"""Provisioning limits: a request slot per integration shared by every worker.

Revision ID: 0009
Revises: 0007
Create Date: 2026-01-09 00:00:00

Mirrors scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py compares
them): ``integration_connectors.next_call_us``, the next free request slot that
scimcore.storage.sql.pacing reserves atomically. Nullable: existing integrations start
with no reservation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the shared request slot of each integration."""
    op.add_column(
        "integration_connectors", sa.Column("next_call_us", sa.BigInteger(), nullable=True)
    )


def downgrade() -> None:
    """Drop the request slot (workers pace nothing until upgraded again)."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place (no table copy).
        op.execute("ALTER TABLE integration_connectors DROP COLUMN next_call_us")
    else:
        op.drop_column("integration_connectors", "next_call_us")
