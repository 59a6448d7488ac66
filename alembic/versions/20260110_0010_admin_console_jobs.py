"""Admin console: CSV jobs that report progress; indexes for accounts and activity pages.

Revision ID: 0010
Revises: 0009
Create Date: 2026-01-10 00:00:00

Mirrors scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py compares
them):

* ``admin_csv_jobs.started``, ``rows_total``, ``rows_done``, ``counts``: a started
  import runs in the background (scimserver.admin.csv_jobs) and writes its progress
  here, so every process of the service can show it.
* ``admin_csv_jobs.lease_until`` and the ``interrupted`` status: the running process
  renews its lease as it goes; a ``running`` job whose lease ran out belonged to a
  process that died, and is shown (and recorded) as interrupted.

* ``ix_service_accounts_integration_id`` and ``ix_service_accounts_classification``:
  an integration's account list, keyset-paged on id and filtered by link status or
  classification, reads one page from an index (and the counts per classification).
* ``ix_events_resource`` and ``ix_events_data_user_id``: the Activity page's filter by
  user (a user's own events; its service accounts' events, by ``data ->> 'user_id'``,
  an expression that needs SQLite 3.38 or later).

All new columns are nullable, so existing rows need no backfill. On SQLite the status
CHECK is widened by rewriting its text in ``sqlite_schema``, as revision 0009 does for
``integrations``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_OLD = "'done', 'failed')"
_NEW = "'done', 'failed', 'interrupted')"
STATUSES = "status IN ('pending', 'running', 'done', 'failed'{})"
JOB_COLUMNS = ("started", "rows_total", "rows_done", "counts", "lease_until")
INDEXES = (
    ("ix_events_data_user_id", "events"),
    ("ix_events_resource", "events"),
    ("ix_service_accounts_classification", "service_accounts"),
    ("ix_service_accounts_integration_id", "service_accounts"),
)


def _sqlite_status_check(old: str, new: str) -> None:
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE type = 'table' "
        "AND name = 'admin_csv_jobs'",
        (old, new),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def _status_check(interrupted: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_status_check(*((_OLD, _NEW) if interrupted else (_NEW, _OLD)))
        return
    op.drop_constraint("ck_admin_csv_jobs_status", "admin_csv_jobs", type_="check")
    op.create_check_constraint(
        "ck_admin_csv_jobs_status",
        "admin_csv_jobs",
        STATUSES.format(", 'interrupted'" if interrupted else ""),
    )


def upgrade() -> None:
    """Add the progress and lease columns of CSV jobs; allow ``interrupted``."""
    op.add_column("admin_csv_jobs", sa.Column("started", UTCDateTime(), nullable=True))
    op.add_column("admin_csv_jobs", sa.Column("rows_total", sa.Integer(), nullable=True))
    op.add_column("admin_csv_jobs", sa.Column("rows_done", sa.Integer(), nullable=True))
    op.add_column("admin_csv_jobs", sa.Column("counts", JSON_DOC, nullable=True))
    op.add_column("admin_csv_jobs", sa.Column("lease_until", UTCDateTime(), nullable=True))
    _status_check(interrupted=True)
    op.create_index(
        "ix_service_accounts_integration_id",
        "service_accounts",
        ["organization_id", "integration_id", "id", "link_status"],
    )
    op.create_index(
        "ix_service_accounts_classification",
        "service_accounts",
        ["organization_id", "integration_id", "classification", "id", "link_status"],
    )
    op.create_index("ix_events_resource", "events", ["organization_id", "resource_id", "id"])
    # As scimcore.storage.sql.tables.EventUserId spells it per database (SQLite's ->>
    # needs 3.38, newer than some distributions ship; json_extract is in every JSON1).
    user_id = (
        "json_extract(data, '$.user_id')"
        if op.get_bind().dialect.name == "sqlite"
        else "(data ->> 'user_id')"
    )
    op.create_index("ix_events_data_user_id", "events", ["organization_id", sa.text(user_id), "id"])


def downgrade() -> None:
    """Drop the indexes; record interrupted jobs as failed, then drop the columns."""
    for index, table in INDEXES:
        op.drop_index(index, table_name=table)
    op.execute("UPDATE admin_csv_jobs SET status = 'failed' WHERE status = 'interrupted'")
    _status_check(interrupted=False)
    for column in JOB_COLUMNS:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite >= 3.35 drops a column in place (no table copy).
            op.execute(f"ALTER TABLE admin_csv_jobs DROP COLUMN {column}")
        else:
            op.drop_column("admin_csv_jobs", column)
