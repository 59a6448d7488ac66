"""The SQL schema: organizations, their tokens, and one table for Users and Groups.

Designed for organizations with millions of users:

* Every resource-scoped key starts with ``organization_id``, so each lookup the
  SCIM clients make (by ``id``, ``userName``, ``externalId``, ``emails.value``,
  group ``displayName``) is an index probe whose cost does not grow with the size of
  the organization or of the others.
* Users and Groups share ``resources`` so a membership row can reference either with
  a real foreign key. The primary key is ``(organization_id, id)`` and memberships
  reference it with composite foreign keys: a group can never, even by a bug,
  contain a resource of another organization.
* ``name_key`` (lowered ``userName`` / group ``displayName``) and the ``folded``
  document (the resource with every string lowered) are computed in Python with
  ``str.lower()``; the database never lowers anything, so case-insensitive
  comparisons mean exactly the same on SQLite, PostgreSQL and in memory, whatever the
  database's locale.
* Members live in ``group_members``, one row per membership: adding or removing one
  member of a huge group touches one row.
* ``created``/``last_modified`` are the canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
  strings of ``meta``; their string order is their time order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always UTC and always comes back timezone-aware.

    SQLite has no timezone-aware type and would silently drop the offset; storing
    UTC everywhere keeps comparisons (``last_used`` throttling) correct on both.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON documents: JSONB on PostgreSQL (binary, path operators), JSON text elsewhere.
JsonDoc: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")

ID = sa.String(64)
ORG_ID = sa.String(36)
#: Canonical dateTime strings are 27 characters; a little room for 5-digit years.
STAMP = sa.String(32)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ORG_ID, primary_key=True),
    sa.Column("slug", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    # The IdP profile (scimcore.compat), e.g. "auto", "okta" or "okta@1" (pinned).
    sa.Column("profile", sa.String(64), nullable=False, server_default="auto"),
)

scim_tokens = sa.Table(
    "scim_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("last_used", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('active', 'revoked', 'superseded')", name="status"),
    # At most one active token per organization, enforced by the database itself.
    sa.Index(
        "uq_scim_tokens_one_active",
        "organization_id",
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index("ix_scim_tokens_organization_id_created", "organization_id", "created"),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("id", ID, nullable=False),
    sa.Column("resource_type", sa.String(64), nullable=False),
    # The resource type's unique attribute (userName of Users, displayName of Groups;
    # see scimcore.schema.declare.unique_attribute) as given, and lowered by Python.
    # NULL for a resource type without one.
    sa.Column("name", sa.Text(), nullable=True),
    sa.Column("name_key", sa.Text(), nullable=True),
    # displayName when it is a non-empty string (what a member's ``display`` shows).
    sa.Column("display_name", sa.Text(), nullable=True),
    sa.Column("external_id", sa.Text(), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=True),
    sa.Column("created", STAMP, nullable=False),
    sa.Column("last_modified", STAMP, nullable=False),
    sa.Column("version", sa.String(64), nullable=True),
    # The resource as stored (without members/groups), and with every string lowered.
    sa.Column("data", JsonDoc, nullable=False),
    sa.Column("folded", JsonDoc, nullable=False),
    sa.PrimaryKeyConstraint("organization_id", "id"),
    sa.UniqueConstraint("organization_id", "resource_type", "name_key"),
    sa.Index("ix_resources_external_id", "organization_id", "resource_type", "external_id"),
    sa.Index("ix_resources_listing", "organization_id", "resource_type", "id"),
)

resource_emails = sa.Table(
    "resource_emails",
    metadata,
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("resource_id", ID, nullable=False),
    # emails[].value lowered by Python: makes ``emails.value eq`` an index probe.
    sa.Column("value_key", sa.Text(), nullable=False),
    # The key leads with the value: ``emails.value eq`` is a primary-key probe.
    sa.PrimaryKeyConstraint("organization_id", "value_key", "resource_id"),
    sa.ForeignKeyConstraint(
        ["organization_id", "resource_id"],
        ["resources.organization_id", "resources.id"],
        ondelete="CASCADE",
    ),
    # Rewriting a user's emails, and the cascade when the user is deleted.
    sa.Index("ix_resource_emails_resource_id", "organization_id", "resource_id"),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("group_id", ID, nullable=False),
    sa.Column("member_id", ID, nullable=False),
    sa.Column("member_type", sa.String(16), nullable=False),
    # The member's display as the client sent it; NULL means "show the member's name".
    sa.Column("display", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("organization_id", "group_id", "member_id"),
    sa.ForeignKeyConstraint(
        ["organization_id", "group_id"],
        ["resources.organization_id", "resources.id"],
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["organization_id", "member_id"],
        ["resources.organization_id", "resources.id"],
        ondelete="CASCADE",
    ),
    # User.groups, and the cascade when a member is deleted.
    sa.Index("ix_group_members_member_id", "organization_id", "member_id"),
)

# -- integrations and service accounts (revision 0002) ----------------------------------
#
# Integer identities: the export lists accounts in the order they were linked, which is
# the order of ``service_accounts.id``. Both tables carry ``organization_id`` and every
# reference is a composite foreign key, so an account can never point at another
# organization's integration or user.

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SERVICE_KINDS = ("google_workspace", "microsoft_365", "cybozu", "form_based", "scim2", "manual")

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The CSV names an integration by its display name: unique per organization.
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("is_manual", sa.Boolean(), nullable=False),
    sa.Column("license_profiles", JsonDoc, nullable=False),
    sa.Column("scim_user_resource_id_mode", sa.String(8), nullable=False),
    sa.Column("on_service_account_delete", sa.String(20), nullable=False),
    sa.Column("provisioning_enabled", sa.Boolean(), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("updated", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "display_name"),
    sa.UniqueConstraint("organization_id", "id"),
    sa.CheckConstraint(
        "kind IN ('google_workspace', 'microsoft_365', 'cybozu', 'form_based', 'scim2', 'manual')",
        name="kind",
    ),
    sa.CheckConstraint("scim_user_resource_id_mode IN ('auto', 'manual')", name="id_mode"),
    sa.CheckConstraint(
        "on_service_account_delete IN ('deactivate_remote', 'delete_remote', 'nothing')",
        name="on_delete",
    ),
    sqlite_autoincrement=True,
)

service_accounts = sa.Table(
    "service_accounts",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("integration_id", SERIAL, nullable=False),
    # NULL: a remote account nobody is linked to (found by discovery).
    sa.Column("user_id", ID, nullable=True),
    sa.Column("account_id", sa.String(256), nullable=False),
    sa.Column("link_status", sa.String(16), nullable=False),
    sa.Column("link_method", sa.String(16), nullable=True),
    sa.Column("last_access_time", UTCDateTime(), nullable=True),
    sa.Column("mail_proxy_active", sa.Boolean(), nullable=True),
    sa.Column("license_profile", sa.String(200), nullable=True),
    sa.Column("immutable_id", sa.String(128), nullable=True),
    sa.Column("scim_user_resource_id", sa.String(256), nullable=True),
    # Fernet token (authenticated encryption); the key ring never touches the database.
    sa.Column("service_password_ciphertext", sa.Text(), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("updated", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["organization_id", "user_id"],
        ["resources.organization_id", "resources.id"],
        ondelete="CASCADE",
    ),
    # One account per (integration, remote account) and one per (integration, user).
    sa.UniqueConstraint("integration_id", "account_id"),
    sa.UniqueConstraint("integration_id", "user_id"),
    sa.CheckConstraint(
        "(link_status = 'linked' AND user_id IS NOT NULL)"
        " OR (link_status = 'unlinked' AND user_id IS NULL)",
        name="link_status",
    ),
    # A user's accounts, and the cascade when the user is deleted.
    sa.Index("ix_service_accounts_user", "organization_id", "user_id"),
    sqlite_autoincrement=True,
)


# -- admin console (revision 0006) -------------------------------------------------------
#
# Console administrators, the organizations each may see, their server-side sessions
# (the cookie holds a random value; only its SHA-256 is stored, so a database reader
# cannot ride a session), failed sign-ins for throttling (keyed by a hash of
# email + client address), an audit trail of console actions, and CSV jobs (the
# uploaded file is kept only encrypted, under a key the browser holds, until the job
# runs; afterwards only its hash, the counts and the secret-free result CSV remain).

admin_accounts = sa.Table(
    "admin_accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # Lowered by Python; unique.
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("last_sign_in", UTCDateTime(), nullable=True),
)

admin_memberships = sa.Table(
    "admin_memberships",
    metadata,
    sa.Column(
        "admin_id",
        sa.String(36),
        sa.ForeignKey("admin_accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.PrimaryKeyConstraint("admin_id", "organization_id"),
)

admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "admin_id",
        sa.String(36),
        sa.ForeignKey("admin_accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_admin_sessions_admin_id", "admin_id"),
    sa.Index("ix_admin_sessions_expires_at", "expires_at"),
)

admin_sign_in_failures = sa.Table(
    "admin_sign_in_failures",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_admin_sign_in_failures_key_hash_at", "key_hash", "at"),
    sqlite_autoincrement=True,
)

admin_audit = sa.Table(
    "admin_audit",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    # NULL for events outside any one organization (sign-in, sign-out).
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.Text(), nullable=True),
    sa.Column("detail", JsonDoc, nullable=False),
    sa.Index("ix_admin_audit_organization_id_id", "organization_id", "id"),
    sqlite_autoincrement=True,
)

admin_csv_jobs = sa.Table(
    "admin_csv_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    # pending (previewed) -> running -> done | failed; dropped files are NULLed.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("atomic", sa.Boolean(), nullable=False),
    # Fernet ciphertext of the upload under a per-job key that only the browser holds.
    sa.Column("file_ciphertext", sa.Text(), nullable=True),
    sa.Column("preview", JsonDoc, nullable=True),
    sa.Column("summary", JsonDoc, nullable=True),
    sa.Column("result_csv", sa.LargeBinary(), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("finished", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),
    sa.Index("ix_admin_csv_jobs_organization_id_created", "organization_id", "created"),
)
