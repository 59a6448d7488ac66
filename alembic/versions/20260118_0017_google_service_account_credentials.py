"""A credential kind for Google service accounts with domain-wide delegation.

Revision ID: 0017
Revises: 0016
Create Date: 2026-01-18 00:00:00

The Google Workspace connector signs in as a service account (its key file kept in the
vault) to act for each user, which Gmail's per-user settings need. The CHECK
constraint on ``credentials.kind`` gains ``google_service_account``. On SQLite the
table is copied (batch mode); it holds one row per integration. Mirrors
scimcore/storage/sql/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = (
    "kind IN ('api_key', 'bearer', 'basic', 'id_password', 'oauth_client_credentials',"
    " 'oauth_authorization_code')"
)
NEW = (
    "kind IN ('api_key', 'bearer', 'basic', 'id_password', 'oauth_client_credentials',"
    " 'oauth_authorization_code', 'google_service_account')"
)


def _replace(condition: str) -> None:
    with op.batch_alter_table("credentials", recreate="auto") as batch:
        batch.drop_constraint("ck_credentials_kind", type_="check")
        batch.create_check_constraint("kind", condition)


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM credentials WHERE kind = 'google_service_account'")
    _replace(OLD)
