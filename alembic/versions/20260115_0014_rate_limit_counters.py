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

On PostgreSQL the table is UNLOGGED: its writes go to no WAL, so a transaction that
only adds to a counter does not wait for the WAL to reach the disk at commit (measured:
3.4 ms and 450 us of CPU per add, 0.33 ms and 176 us unlogged). The price is the one
a rate limit can pay: after a crash the table is empty (counting starts again), and
standbys do not have its rows (a promoted standby starts counting afresh).
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
    """Create ``rate_limit_counters`` (UNLOGGED on PostgreSQL) and its index on
    ``expires_at``."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_counters"),
        prefixes=["UNLOGGED"] if postgresql else [],
    )
    op.create_index("ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"])


def downgrade() -> None:
    """Drop ``rate_limit_counters`` (counts of the current windows are lost; harmless)."""
    op.drop_index("ix_rate_limit_counters_expires_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
