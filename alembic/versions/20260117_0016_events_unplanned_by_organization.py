"""The worker's queue of unplanned events, by organization: ``ix_events_unplanned_org``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-01-17 00:00:00

The planner serves the organizations with events waiting in turn (a backlog of one
organization must not delay another's fresh event), so it finds them with one probe
per organization and reads each one's oldest events: both need the unplanned events
by ``(organization_id, id)``. The index on ``id`` alone (revision 0005) served a
single queue in id order and is dropped. Mirrors scimcore/storage/sql/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_unplanned_org",
        "events",
        ["organization_id", "id"],
        sqlite_where=sa.text("NOT planned"),
        postgresql_where=sa.text("NOT planned"),
    )
    op.drop_index("ix_events_unplanned", table_name="events")


def downgrade() -> None:
    op.create_index(
        "ix_events_unplanned",
        "events",
        ["id"],
        sqlite_where=sa.text("NOT planned"),
        postgresql_where=sa.text("NOT planned"),
    )
    op.drop_index("ix_events_unplanned_org", table_name="events")
