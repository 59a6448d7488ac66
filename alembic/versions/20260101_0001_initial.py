"""Initial schema: organizations, scim_tokens, resources, resource_emails, group_members.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00

Mirrors scimcore/storage/sql/tables.py exactly (tests/storage/test_sql_migration.py
checks it with alembic's compare_metadata on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("slug", name="uq_organizations_slug"),
    )
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("last_used", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'revoked', 'superseded')", name="ck_scim_tokens_status"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name="fk_scim_tokens_organization_id_organizations", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scim_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_scim_tokens_token_hash"),
    )
    op.create_index(
        "uq_scim_tokens_one_active", "scim_tokens", ["organization_id"], unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_scim_tokens_organization_id_created", "scim_tokens", ["organization_id", "created"]
    )
    op.create_table(
        "resources",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("name_key", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.Column("folded", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name="fk_resources_organization_id_organizations", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_resources"),
        sa.UniqueConstraint(
            "organization_id", "resource_type", "name_key",
            name="uq_resources_organization_id_resource_type_name_key",
        ),
    )
    op.create_index(
        "ix_resources_external_id", "resources",
        ["organization_id", "resource_type", "external_id"],
    )
    op.create_index("ix_resources_listing", "resources", ["organization_id", "resource_type", "id"])
    op.create_table(
        "resource_emails",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("value_key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id", "resource_id"], ["resources.organization_id", "resources.id"],
            name="fk_resource_emails_organization_id_resource_id_resources", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "value_key", "resource_id", name="pk_resource_emails"
        ),
    )
    op.create_index(
        "ix_resource_emails_resource_id", "resource_emails", ["organization_id", "resource_id"]
    )
    op.create_table(
        "group_members",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("member_type", sa.String(16), nullable=False),
        sa.Column("display", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id", "group_id"], ["resources.organization_id", "resources.id"],
            name="fk_group_members_organization_id_group_id_resources", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "member_id"], ["resources.organization_id", "resources.id"],
            name="fk_group_members_organization_id_member_id_resources", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "group_id", "member_id", name="pk_group_members"
        ),
    )
    op.create_index(
        "ix_group_members_member_id", "group_members", ["organization_id", "member_id"]
    )


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("resource_emails")
    op.drop_table("resources")
    op.drop_index("ix_scim_tokens_organization_id_created", table_name="scim_tokens")
    op.drop_index("uq_scim_tokens_one_active", table_name="scim_tokens")
    op.drop_table("scim_tokens")
    op.drop_table("organizations")
