"""Indexes for the console's sorted lists and prefix searches; a lowered User displayName.

Revision ID: 0012
Revises: 0011
Create Date: 2026-01-13 00:00:00

The console's Users list sorts by userName, displayName, created or lastModified and
searches a plain word as a prefix of userName, displayName or an email. Without an
index in that order every page sorted all of an organization's users (at 1M users,
seconds per page), and a User's displayName was only in the JSON documents, which no
index could serve. This revision:

* adds ``resources.display_key``, displayName lowered by Python (its value in
  ``folded``), filled here from ``folded`` for the existing rows;
* adds ``ix_resources_{display_key,created,last_modified}_order``:
  (organization_id, resource_type, key, id);
* on PostgreSQL, gives the lowered keys (``name_key``, ``display_key``,
  ``resource_emails.value_key``) and the timestamps the collation "C": the filter
  compiler sorts and compares ranges in code point order (``COLLATE "C"``), which an
  index in the database's collation (say en_US.UTF-8) cannot serve. Same type, so
  PostgreSQL rewrites no rows; it rebuilds the indexes on those columns (the unique
  name index, the primary key of resource_emails). SQLite compares in code point
  order already.

Filling the column rewrites every resource row, and on PostgreSQL the whole revision
holds an exclusive lock on ``resources`` and ``resource_emails`` while it runs
(measured at 1M users: see docs/performance.md, "Console lists at 1M users").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_KEYS = ("display_key", "created", "last_modified")
#: (table, column, type) of the columns whose collation becomes "C" on PostgreSQL.
KEYS = (
    ("resources", "name_key", sa.Text),
    ("resources", "created", lambda **kw: sa.String(32, **kw)),
    ("resources", "last_modified", lambda **kw: sa.String(32, **kw)),
    ("resource_emails", "value_key", sa.Text),
)


def _collate(collation: str | None) -> None:
    for table, column, type_ in KEYS:
        op.alter_column(
            table,
            column,
            type_=type_(collation=collation),
            existing_type=type_(),
            existing_nullable=column == "name_key",
        )


def upgrade() -> None:
    """Add and fill ``display_key``; add the ordered indexes; collate keys as "C"."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "resources",
        sa.Column("display_key", sa.Text(collation="C") if postgres else sa.Text(), nullable=True),
    )
    if postgres:
        _collate("C")
        op.execute(
            "UPDATE resources SET display_key = folded ->> 'displayName'"
            " WHERE jsonb_typeof(folded -> 'displayName') = 'string'"
        )
    else:
        op.execute(
            "UPDATE resources SET display_key = json_extract(folded, '$.displayName')"
            " WHERE json_type(folded, '$.displayName') = 'text'"
        )
    for key in ORDER_KEYS:
        op.create_index(
            f"ix_resources_{key}_order",
            "resources",
            ["organization_id", "resource_type", key, "id"],
        )


def downgrade() -> None:
    """Drop the indexes and the column; back to the database's collation."""
    for key in ORDER_KEYS:
        op.drop_index(f"ix_resources_{key}_order", table_name="resources")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place (no table copy).
        op.execute("ALTER TABLE resources DROP COLUMN display_key")
        return
    op.drop_column("resources", "display_key")
    _collate(None)
