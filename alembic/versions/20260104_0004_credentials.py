"""Connector credentials (encrypted), OAuth flow state and ``integrations.status``.

Revision ID: 0004
Revises: 0006 (the admin console landed first)
Create Date: 2026-01-04 00:00:00

Mirrors the ``credentials`` and ``oauth_flows`` tables and the ``status`` column of
``integrations`` in scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py
compares them). Existing integrations become ``active``.

On SQLite the status column is added with a plain ``ALTER TABLE ... ADD COLUMN`` (its
CHECK inline): a batch "copy and move" would drop ``integrations``, and with foreign
keys on, that drop would cascade to every service account.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = (
    "status IN ('active', 'pending_auth', 'syncing', 'synced', 'sync_failed',"
    " 'needs_reauth', 'disabled')"
)


def upgrade() -> None:
    """Add ``integrations.status``; create ``credentials`` and ``oauth_flows``."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE integrations ADD COLUMN status VARCHAR(16) DEFAULT 'active' NOT NULL"
            f" CONSTRAINT ck_integrations_status CHECK ({STATUSES})"
        )
    else:
        op.add_column(
            "integrations",
            sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        )
        op.create_check_constraint("ck_integrations_status", "integrations", STATUSES)
    op.create_table(
        "credentials",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("integration_id", SERIAL, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("public_params", JSON_DOC, nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("access_token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('api_key', 'bearer', 'basic', 'id_password', 'oauth_client_credentials',"
            " 'oauth_authorization_code')",
            name="ck_credentials_kind",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "integration_id"],
            ["integrations.organization_id", "integrations.id"],
            name="fk_credentials_organization_id_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("integration_id", name="uq_credentials_integration_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_credentials_key_id", "credentials", ["key_id"])
    op.create_table(
        "oauth_flows",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("integration_id", SERIAL, nullable=False),
        sa.Column("code_verifier_ciphertext", sa.Text(), nullable=True),
        sa.Column("browser_hash", sa.String(64), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("purpose IN ('ticket', 'state')", name="ck_oauth_flows_purpose"),
        sa.ForeignKeyConstraint(
            ["organization_id", "integration_id"],
            ["integrations.organization_id", "integrations.id"],
            name="fk_oauth_flows_organization_id_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name="pk_oauth_flows"),
    )
    op.create_index("ix_oauth_flows_expires_at", "oauth_flows", ["expires_at"])


def downgrade() -> None:
    """Drop ``oauth_flows`` and ``credentials`` (every stored secret is lost) and
    ``integrations.status``."""
    op.drop_index("ix_oauth_flows_expires_at", table_name="oauth_flows")
    op.drop_table("oauth_flows")
    op.drop_index("ix_credentials_key_id", table_name="credentials")
    op.drop_table("credentials")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place (no table copy, so no cascade).
        op.execute("ALTER TABLE integrations DROP COLUMN status")
    else:
        op.drop_constraint("ck_integrations_status", "integrations", type_="check")
        op.drop_column("integrations", "status")
