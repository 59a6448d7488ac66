"""An index that lists an organization's service accounts in link order.

Revision ID: 0008
Revises: 0010
Create Date: 2026-01-11 00:00:00

The service-account export reads an organization's accounts ordered by id. SQLite,
with only the (organization_id, user_id) index, found the rows through it and sorted
all of them in a temporary B-tree before writing the first one (EXPLAIN QUERY PLAN:
``USE TEMP B-TREE FOR ORDER BY``); with (organization_id, id) it reads them in order and
the export streams from the first row. PostgreSQL walked the primary key in order
already; the index lets it skip other organizations' accounts. Numbered 0008 but
applied after 0010, the head when it was written. Building the index briefly blocks
writes to service_accounts on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the (organization_id, id) index on service_accounts."""
    op.create_index("ix_service_accounts_listing", "service_accounts", ["organization_id", "id"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_service_accounts_listing", table_name="service_accounts")
