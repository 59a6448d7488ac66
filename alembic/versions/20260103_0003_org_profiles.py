"""Organizations choose an IdP profile (scimcore.compat): ``organizations.profile``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03 00:00:00

Mirrors the ``profile`` column of ``organizations`` in scimcore/storage/sql/tables.py
(tests/storage/test_sql_migration.py compares them). Existing organizations get
``auto``, the profile every organization had implicitly before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``organizations.profile`` (default ``auto``)."""
    op.add_column(
        "organizations",
        sa.Column("profile", sa.String(64), nullable=False, server_default="auto"),
    )


def downgrade() -> None:
    """Drop ``organizations.profile``.

    A plain ``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35+ and PostgreSQL): a batch
    "copy and move" would drop ``organizations``, and with foreign keys on, that drop
    would cascade to every token and resource.
    """
    op.drop_column("organizations", "profile")
