"""Provisioning: connectors per integration, the event outbox, jobs, discovery.

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-05 00:00:00

Mirrors the "provisioning" section of scimcore/storage/sql/tables.py
(tests/storage/test_sql_migration.py compares them): ``integration_connectors``,
``events``, ``jobs``, ``sync_runs``, ``organization_domains``, and the discovery
columns of ``service_accounts`` (all nullable, so existing rows need no backfill).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ORG_ID = sa.String(36)
DISCOVERY_COLUMNS = ("remote_status", "classification", "remote_email", "first_seen", "last_seen")


def _integration_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    """Create the provisioning tables and add discovery columns to service_accounts."""
    op.create_table(
        "integration_connectors",
        sa.Column("integration_id", SERIAL, autoincrement=False, nullable=False),
        sa.Column("organization_id", ORG_ID, nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("settings", JSON_DOC, nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("min_interval_ms", sa.Integer(), nullable=False),
        sa.Column("paused_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("last_sync_started", UTCDateTime(), nullable=True),
        sa.Column("last_sync_finished", UTCDateTime(), nullable=True),
        sa.Column("last_successful_sync", UTCDateTime(), nullable=True),
        sa.Column("account_count", sa.Integer(), nullable=True),
        sa.Column("updated", UTCDateTime(), nullable=False),
        _integration_fk(),
        sa.PrimaryKeyConstraint("integration_id", name="pk_integration_connectors"),
    )
    op.create_table(
        "events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", ORG_ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.CheckConstraint("source IN ('scim', 'csv', 'engine', 'admin')", name="ck_events_source"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_events_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_organization_id_id", "events", ["organization_id", "id"])
    op.create_index(
        "ix_events_unplanned",
        "events",
        ["id"],
        sqlite_where=sa.text("NOT planned"),
        postgresql_where=sa.text("NOT planned"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", ORG_ID, nullable=False),
        sa.Column("integration_id", SERIAL, nullable=False),
        sa.Column("event_id", SERIAL, nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", UTCDateTime(), nullable=False),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime(), nullable=True),
        _integration_fk(),
        sa.CheckConstraint(
            "operation IN ('provision', 'update', 'deactivate', 'reactivate', 'deprovision')",
            name="ck_jobs_operation",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'dead')", name="ck_jobs_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("idempotency_key", name="uq_jobs_idempotency_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"])
    op.create_index("ix_jobs_subject", "jobs", ["integration_id", "user_id", "id"])
    op.create_table(
        "sync_runs",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("organization_id", ORG_ID, nullable=False),
        sa.Column("integration_id", SERIAL, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("finished", UTCDateTime(), nullable=True),
        sa.Column("counts", JSON_DOC, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _integration_fk(),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'partial', 'failed')", name="ck_sync_runs_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_sync_runs_integration_id_started", "sync_runs", ["integration_id", "started"]
    )
    op.create_table(
        "organization_domains",
        sa.Column("organization_id", ORG_ID, nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_domains_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "domain", name="pk_organization_domains"),
    )
    op.add_column("service_accounts", sa.Column("remote_status", sa.String(16), nullable=True))
    op.add_column("service_accounts", sa.Column("classification", sa.String(16), nullable=True))
    op.add_column("service_accounts", sa.Column("remote_email", sa.String(320), nullable=True))
    op.add_column("service_accounts", sa.Column("first_seen", UTCDateTime(), nullable=True))
    op.add_column("service_accounts", sa.Column("last_seen", UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Drop the provisioning tables and the discovery columns."""
    with op.batch_alter_table("service_accounts") as batch:
        for name in DISCOVERY_COLUMNS:
            batch.drop_column(name)
    op.drop_table("organization_domains")
    op.drop_index("ix_sync_runs_integration_id_started", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index("ix_jobs_subject", table_name="jobs")
    op.drop_index("ix_jobs_status_run_after", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_events_unplanned", table_name="events")
    op.drop_index("ix_events_organization_id_id", table_name="events")
    op.drop_table("events")
    op.drop_table("integration_connectors")
