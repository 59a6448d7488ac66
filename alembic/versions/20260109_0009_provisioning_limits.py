"""Provisioning limits: a shared request slot per integration, quarantine, event pruning.

Revision ID: 0009
Revises: 0007
Create Date: 2026-01-09 00:00:00

Mirrors scimcore/storage/sql/tables.py (tests/storage/test_sql_migration.py compares
them):

* ``integration_connectors.next_call_us``: the next free request slot, reserved
  atomically by scimcore.storage.sql.pacing so a rate limit holds over all workers.
* ``integration_connectors.quarantined_since``, ``quarantine_next_trial``,
  ``quarantine_trials`` and the ``quarantined`` value of ``integrations.status``
  (scimcore.provisioning.quarantine).
* ``ix_events_created``: pruning finds events past the retention by age
  (scimcore.storage.sql.retention).

All new columns are nullable, so existing rows need no backfill. On SQLite the status
CHECK is widened by rewriting its text in ``sqlite_schema`` (the procedure SQLite's
ALTER TABLE documentation gives for loosening a CHECK): a "copy and move" would drop
``integrations``, and with foreign keys on, that drop would cascade to every service
account and job.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "'needs_reauth', 'disabled')"
_NEW = "'needs_reauth', 'disabled', 'quarantined')"
STATUSES = (
    "status IN ('active', 'pending_auth', 'syncing', 'synced', 'sync_failed',"
    " 'needs_reauth', 'disabled'{})"
)
QUARANTINE_COLUMNS = ("quarantined_since", "quarantine_next_trial", "quarantine_trials")


def _sqlite_status_check(old: str, new: str) -> None:
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE type = 'table' "
        "AND name = 'integrations'",
        (old, new),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def _status_check(values: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        old, new = (_OLD, _NEW) if "quarantined" in values else (_NEW, _OLD)
        _sqlite_status_check(old, new)
        return
    op.drop_constraint("ck_integrations_status", "integrations", type_="check")
    op.create_check_constraint("ck_integrations_status", "integrations", values)


def upgrade() -> None:
    """Add the shared request slot and the quarantine columns; allow ``quarantined``."""
    op.add_column(
        "integration_connectors", sa.Column("next_call_us", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "integration_connectors", sa.Column("quarantined_since", UTCDateTime(), nullable=True)
    )
    op.add_column(
        "integration_connectors",
        sa.Column("quarantine_next_trial", UTCDateTime(), nullable=True),
    )
    op.add_column(
        "integration_connectors", sa.Column("quarantine_trials", sa.Integer(), nullable=True)
    )
    _status_check(STATUSES.format(", 'quarantined'"))
    op.create_index("ix_events_created", "events", ["created"])


def downgrade() -> None:
    """Lift every quarantine, then drop the columns (workers pace nothing until upgraded)."""
    op.drop_index("ix_events_created", table_name="events")
    op.execute("UPDATE integrations SET status = 'active' WHERE status = 'quarantined'")
    _status_check(STATUSES.format(""))
    for column in ("next_call_us", *QUARANTINE_COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite >= 3.35 drops a column in place (no table copy).
            op.execute(f"ALTER TABLE integration_connectors DROP COLUMN {column}")
        else:
            op.drop_column("integration_connectors", column)
