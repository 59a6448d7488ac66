"""Admin console: administrators, their organizations, sessions, sign-in throttling,
audit trail and CSV jobs.

Revision ID: 0006
Revises: 0003
Create Date: 2026-01-06 00:00:00

Mirrors the "admin console" section at the end of scimcore/storage/sql/tables.py
(tests/storage/test_sql_migration.py compares them). Only new tables: nothing
existing is touched, so upgrading a running deployment is safe.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the admin console tables."""
    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("last_sign_in", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_accounts"),
        sa.UniqueConstraint("email", name="uq_admin_accounts_email"),
    )
    op.create_table(
        "admin_memberships",
        sa.Column("admin_id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_accounts.id"],
            name="fk_admin_memberships_admin_id_admin_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_admin_memberships_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("admin_id", "organization_id", name="pk_admin_memberships"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("admin_id", sa.String(36), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_accounts.id"],
            name="fk_admin_sessions_admin_id_admin_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name="pk_admin_sessions"),
    )
    op.create_index("ix_admin_sessions_admin_id", "admin_sessions", ["admin_id"])
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_table(
        "admin_sign_in_failures",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_sign_in_failures"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_admin_sign_in_failures_key_hash_at", "admin_sign_in_failures", ["key_hash", "at"]
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("detail", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_admin_audit_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_admin_audit_organization_id_id", "admin_audit", ["organization_id", "id"])
    op.create_table(
        "admin_csv_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("atomic", sa.Boolean(), nullable=False),
        sa.Column("file_ciphertext", sa.Text(), nullable=True),
        sa.Column("preview", JSON_DOC, nullable=True),
        sa.Column("summary", JSON_DOC, nullable=True),
        sa.Column("result_csv", sa.LargeBinary(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')",
            name="ck_admin_csv_jobs_status",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_admin_csv_jobs_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_admin_csv_jobs"),
    )
    op.create_index(
        "ix_admin_csv_jobs_organization_id_created",
        "admin_csv_jobs",
        ["organization_id", "created"],
    )


def downgrade() -> None:
    """Drop the admin console tables (administrators, sessions and audit rows are lost)."""
    op.drop_index("ix_admin_csv_jobs_organization_id_created", table_name="admin_csv_jobs")
    op.drop_table("admin_csv_jobs")
    op.drop_index("ix_admin_audit_organization_id_id", table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_index("ix_admin_sign_in_failures_key_hash_at", table_name="admin_sign_in_failures")
    op.drop_table("admin_sign_in_failures")
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_index("ix_admin_sessions_admin_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admin_memberships")
    op.drop_table("admin_accounts")
