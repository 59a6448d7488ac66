"""Integrations and service accounts: which account each user holds in each service.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02 00:00:00

Mirrors the ``integrations`` and ``service_accounts`` tables of
scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``integrations`` and ``service_accounts``."""
    op.create_table(
        "integrations",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("is_manual", sa.Boolean(), nullable=False),
        sa.Column("license_profiles", JSON_DOC, nullable=False),
        sa.Column("scim_user_resource_id_mode", sa.String(8), nullable=False),
        sa.Column("on_service_account_delete", sa.String(20), nullable=False),
        sa.Column("provisioning_enabled", sa.Boolean(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('google_workspace', 'microsoft_365', 'cybozu', 'form_based', 'scim2', "
            "'manual')",
            name="ck_integrations_kind",
        ),
        sa.CheckConstraint(
            "scim_user_resource_id_mode IN ('auto', 'manual')", name="ck_integrations_id_mode"
        ),
        sa.CheckConstraint(
            "on_service_account_delete IN ('deactivate_remote', 'delete_remote', 'nothing')",
            name="ck_integrations_on_delete",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_integrations_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        sa.UniqueConstraint(
            "organization_id", "display_name", name="uq_integrations_organization_id_display_name"
        ),
        sa.UniqueConstraint("organization_id", "id", name="uq_integrations_organization_id_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "service_accounts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("integration_id", SERIAL, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("account_id", sa.String(256), nullable=False),
        sa.Column("link_status", sa.String(16), nullable=False),
        sa.Column("link_method", sa.String(16), nullable=True),
        sa.Column("last_access_time", UTCDateTime(), nullable=True),
        sa.Column("mail_proxy_active", sa.Boolean(), nullable=True),
        sa.Column("license_profile", sa.String(200), nullable=True),
        sa.Column("immutable_id", sa.String(128), nullable=True),
        sa.Column("scim_user_resource_id", sa.String(256), nullable=True),
        sa.Column("service_password_ciphertext", sa.Text(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(link_status = 'linked' AND user_id IS NOT NULL)"
            " OR (link_status = 'unlinked' AND user_id IS NULL)",
            name="ck_service_accounts_link_status",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "integration_id"],
            ["integrations.organization_id", "integrations.id"],
            name="fk_service_accounts_organization_id_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "user_id"],
            ["resources.organization_id", "resources.id"],
            name="fk_service_accounts_organization_id_user_id_resources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_service_accounts"),
        sa.UniqueConstraint(
            "integration_id", "account_id", name="uq_service_accounts_integration_id_account_id"
        ),
        sa.UniqueConstraint(
            "integration_id", "user_id", name="uq_service_accounts_integration_id_user_id"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_service_accounts_user", "service_accounts", ["organization_id", "user_id"])


def downgrade() -> None:
    """Drop ``service_accounts`` and ``integrations`` (their rows are lost)."""
    op.drop_index("ix_service_accounts_user", table_name="service_accounts")
    op.drop_table("service_accounts")
    op.drop_table("integrations")
