"""Leavers' accounts kept on purpose: ``account_exceptions``.

Revision ID: 0018
Revises: 0017
Create Date: 2026-01-19 00:00:00

The console's dashboard lists leavers' and orphans' accounts still active at their
services; an administrator may mark one as an exception (kept on purpose, with a reason,
who and when) so that it leaves the list, and undo that later. One row per account (the
primary key), deleted with the account. A new table: nothing existing changes. Mirrors
scimcore/storage/sql/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_exceptions",
        sa.Column("service_account_id", SERIAL, nullable=False, autoincrement=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_account_id"],
            ["service_accounts.id"],
            name="fk_account_exceptions_service_account_id_service_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_account_id", name="pk_account_exceptions"),
    )
    op.create_index(
        "ix_account_exceptions_organization_id",
        "account_exceptions",
        ["organization_id", "created"],
    )


def downgrade() -> None:
    op.drop_index("ix_account_exceptions_organization_id", table_name="account_exceptions")
    op.drop_table("account_exceptions")
