"""The rate limits' shared counters: ``rate_limit_counters``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-01-15 00:00:00

Every process of the service (gunicorn workers, instances on one database) adds to the
same counter of a (key, window) with one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` (scimcore.ratelimit, scimcore/storage/sql/ratelimit.py): failed
authentications per client address, requests per organization in batches. Rows of
ended windows are deleted by ``expires_at``. Mirrors the table in
scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``rate_limit_counters`` and its index on ``expires_at``."""
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_counters"),
    )
    op.create_index(
        "ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"]
    )


def downgrade() -> None:
    """Drop ``rate_limit_counters`` (counts of the current windows are lost; harmless)."""
    op.drop_index("ix_rate_limit_counters_expires_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
