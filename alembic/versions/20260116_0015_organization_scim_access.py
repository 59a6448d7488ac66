"""One switch for an organization's SCIM access: ``organizations.scim_disabled_at``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-01-16 00:00:00

``scimserver token revoke`` revoked the secret token, but a JWT signed with the
configured key still worked. While ``scim_disabled_at`` is set (by ``token revoke``
or ``orgs disable``) no bearer token of the organization works, secret or JWT; the
token lookup every request makes tests it in the same statement, so it takes effect
on every process at the next request. NULL, the value of every existing
organization, means access is on, as it was. Mirrors the column in
scimcore/storage/sql/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from scimcore.storage.sql.tables import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``organizations.scim_disabled_at`` (NULL: access on)."""
    op.add_column("organizations", sa.Column("scim_disabled_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Drop ``organizations.scim_disabled_at`` (a plain DROP COLUMN, as in 0003: a
    batch copy of ``organizations`` would cascade to every token and resource)."""
    op.drop_column("organizations", "scim_disabled_at")
