"""The membership index by member also holds the group id.

Revision ID: 0007
Revises: 0005
Create Date: 2026-01-07 00:00:00

Reading a user's ``groups`` selects (member_id, group_id) by member. With the index on
(organization_id, member_id) alone, SQLite preferred the primary key (which covers
both columns) and scanned every membership row of the organization: 0.6 ms per GET
with one 10,000-member group, growing with group sizes. With group_id in the index,
it is covering and an exact probe on both databases. The index is rebuilt under its
own name; building it briefly blocks writes to group_members on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Replace the member index with one that covers the groups lookup."""
    op.create_index(
        "ix_group_members_member_group",
        "group_members",
        ["organization_id", "member_id", "group_id"],
    )
    op.drop_index("ix_group_members_member_id", table_name="group_members")


def downgrade() -> None:
    """Back to the (organization_id, member_id) index."""
    op.create_index(
        "ix_group_members_member_id", "group_members", ["organization_id", "member_id"]
    )
    op.drop_index("ix_group_members_member_group", table_name="group_members")
