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

One module, though long: the whole schema in one place, table by table with the
reason for each index, mirroring the migrations in ``alembic/versions`` (a test holds
the two to each other).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

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
#: Most characters in a client's value that lands in an index: ``userName`` or a
#: group's ``displayName`` (``name_key``), ``displayName``, ``externalId``,
#: ``emails.value``. A PostgreSQL B-tree entry holds at most 2,704 bytes, and SQLite
#: has no limit, so without one a long value was stored on one database and refused
#: on the other. 512 characters of up to 4 bytes, plus the rest of the entry, fit;
#: and it is twice what Okta and Entra ID allow for any of these attributes.
MAX_KEY_LENGTH = 512
ORG_ID = sa.String(36)
#: Text compared and sorted in code point order (the lowered keys, the timestamps): on
#: PostgreSQL the column's collation is "C" (revision 0012), the order the filter
#: compiler's ``COLLATE "C"`` asks for, so its indexes serve those sorts and ranges
#: whatever the database's collation; SQLite's BINARY comparison is that order already.
KEY_TEXT: sa.types.TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
#: Canonical dateTime strings are 27 characters; a little room for 5-digit years.
STAMP: sa.types.TypeEngine[str] = sa.String(32).with_variant(
    sa.String(32, collation="C"), "postgresql"
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ORG_ID, primary_key=True),
    sa.Column("slug", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    # The IdP profile (scimcore.compat), e.g. "auto", "okta" or "okta@1" (pinned).
    sa.Column("profile", sa.String(64), nullable=False, server_default="auto"),
    # When SCIM access was turned off (``token revoke``, ``orgs disable``; revision
    # 0015): no bearer token, secret or JWT, works while it is set. NULL: access on.
    # The token lookup every request makes tests it in the same statement.
    sa.Column("scim_disabled_at", UTCDateTime(), nullable=True),
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
    sa.Column("name_key", KEY_TEXT, nullable=True),
    # displayName when it is a non-empty string (what a member's ``display`` shows).
    sa.Column("display_name", sa.Text(), nullable=True),
    # Added by revision 0012: displayName lowered by Python whenever it is a string (a
    # User's case-insensitive sort key and prefix search; Groups use name_key).
    sa.Column("display_key", KEY_TEXT, nullable=True),
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

resource_counts = sa.Table(
    "resource_counts",
    metadata,
    # How many resources of each type an organization has: ``totalResults`` of an
    # unfiltered list without a COUNT(*), which reads the whole collection's index (a
    # cost that grows with the collection: seconds at a million users). Kept by
    # triggers on ``resources`` (revision 0013), so every writer - the API, CSV
    # import, a bulk load - keeps it exact in its own transaction. The total is the
    # sum of the slots: on PostgreSQL a transaction adds its total once, at commit, to
    # the slot its transaction id picks, so concurrent creates in one organization
    # rarely wait for each other's commit; SQLite has one writer and uses slot 0.
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("slot", sa.SmallInteger(), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("organization_id", "resource_type", "slot"),
)

rate_limit_counters = sa.Table(
    "rate_limit_counters",
    metadata,
    # The rate limits' shared counters (scimcore.ratelimit, revision 0014): one row per
    # (key, fixed window), ``key`` being the limit's scope and what it counts
    # ("auth-failures:203.0.113.7", "org-requests:<organization id>"). Added to by one
    # INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so every process of the service
    # counts in the same row; rows whose window has ended (``expires_at``, Unix
    # seconds) are deleted about once a minute. UNLOGGED on PostgreSQL (see 0014): no
    # WAL, no wait for the disk at commit; emptied by a crash, which a limit can bear.
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("window_start", sa.BigInteger(), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("key", "window_start"),
    sa.Index("ix_rate_limit_counters_expires_at", "expires_at"),
)

resource_emails = sa.Table(
    "resource_emails",
    metadata,
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("resource_id", ID, nullable=False),
    # emails[].value lowered by Python: makes ``emails.value eq`` an index probe.
    sa.Column("value_key", KEY_TEXT, nullable=False),
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
# Added by revision 0012: the console's sorted lists and prefix searches. Each serves
# ORDER BY key, id (LIMIT n) and ``key sw "…"`` (a range) as an index range scan, so a
# page of a million users reads about a page of index entries. userName (name_key) is
# served by the unique index, ``emails sw`` by the primary key of resource_emails.
for _key in ("display_key", "created", "last_modified"):
    sa.Index(
        f"ix_resources_{_key}_order",
        resources.c.organization_id,
        resources.c.resource_type,
        resources.c[_key],
        resources.c.id,
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
    # User.groups (covering: SQLite otherwise scans the primary key), and the cascade
    # when a member is deleted (revision 0007).
    sa.Index("ix_group_members_member_group", "organization_id", "member_id", "group_id"),
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
    # Added by revision 0004 (credentials): ``needs_reauth`` parks an integration whose
    # credential the service refused (scimcore.accounts.IntegrationStatus).
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
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
    sa.CheckConstraint(
        "status IN ('active', 'pending_auth', 'syncing', 'synced', 'sync_failed',"
        " 'needs_reauth', 'disabled', 'quarantined')",
        name="status",
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
    # Added by revision 0008: the export streams an organization's accounts in link
    # order from this index, without sorting them first.
    sa.Index("ix_service_accounts_listing", "organization_id", "id"),
    # Added by revision 0010 (the console's account list of an integration, keyset-paged
    # on id): a page in id order, optionally by link status, read from the index alone.
    sa.Index(
        "ix_service_accounts_integration_id",
        "organization_id",
        "integration_id",
        "id",
        "link_status",
    ),
    sqlite_autoincrement=True,
)

# -- connector credentials and OAuth flows (revision 0004) ------------------------------
#
# One credential per integration; deleting the integration deletes it (cascade). The
# secrets are one Fernet token (authenticated encryption under the configured key ring,
# never stored here) of a JSON object bound to the integration id; ``public_params``
# holds only what may be shown (client_id, URLs, scopes, hints such as "…abcd").
# ``key_id`` is the fingerprint of the key that encrypted the row, for rotation.

CREDENTIAL_KINDS = (
    "api_key",
    "bearer",
    "basic",
    "id_password",
    "oauth_client_credentials",
    "oauth_authorization_code",
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("integration_id", SERIAL, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("public_params", JsonDoc, nullable=False),
    sa.Column("secret_ciphertext", sa.Text(), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    # Non-secret: lets the vault refresh an OAuth access token before it expires.
    sa.Column("access_token_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("updated", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
    sa.UniqueConstraint("integration_id"),
    sa.CheckConstraint(
        "kind IN ('api_key', 'bearer', 'basic', 'id_password', 'oauth_client_credentials',"
        " 'oauth_authorization_code', 'google_service_account')",
        name="kind",
    ),
    sa.Index("ix_credentials_key_id", "key_id"),
    sqlite_autoincrement=True,
)

# One row per step of an OAuth "Integrate" flow, keyed by the SHA-256 of its random
# value (the value itself is never stored): a ``ticket`` (the one-time link the CLI
# prints) or a ``state`` (sent to the provider). Each is single-use (``used_at``) and
# expires; a state also holds its PKCE verifier (encrypted) and the hash of the
# browser-binding cookie set when the flow started.
oauth_flows = sa.Table(
    "oauth_flows",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(8), nullable=False),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("integration_id", SERIAL, nullable=False),
    sa.Column("code_verifier_ciphertext", sa.Text(), nullable=True),
    sa.Column("browser_hash", sa.String(64), nullable=True),
    sa.Column("redirect_uri", sa.Text(), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint("purpose IN ('ticket', 'state')", name="purpose"),
    sa.Index("ix_oauth_flows_expires_at", "expires_at"),
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
    # pending (previewed) -> running -> done | failed | interrupted; files are NULLed
    # once the job starts.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("atomic", sa.Boolean(), nullable=False),
    # Fernet ciphertext of the upload under a per-job key that only the browser holds.
    sa.Column("file_ciphertext", sa.Text(), nullable=True),
    sa.Column("preview", JsonDoc, nullable=True),
    sa.Column("summary", JsonDoc, nullable=True),
    sa.Column("result_csv", sa.LargeBinary(), nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("finished", UTCDateTime(), nullable=True),
    # Added by revision 0010: a started job runs outside the request that started it
    # (scimserver.admin.csv_jobs) and reports here, so any process can show it.
    sa.Column("started", UTCDateTime(), nullable=True),
    sa.Column("rows_total", sa.Integer(), nullable=True),
    sa.Column("rows_done", sa.Integer(), nullable=True),
    # Rows per outcome so far ({"created": 1200, "failed": 3, ...}).
    sa.Column("counts", JsonDoc, nullable=True),
    # The running process renews this as it goes; a ``running`` job past it is
    # ``interrupted`` (its process died).
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.CheckConstraint(
        "status IN ('pending', 'running', 'done', 'failed', 'interrupted')", name="status"
    ),
    sa.Index("ix_admin_csv_jobs_organization_id_created", "organization_id", "created"),
)

# -- provisioning: connectors, event outbox, jobs, discovery (revision 0005) -------------
#
# ``events`` is the transactional outbox: the SCIM service and the CSV importers write
# a row in the transaction that makes the change; ``planned`` flips when the worker has
# turned it into ``jobs`` (one per integration), so an event is planned exactly once
# even with several workers (rows are claimed with FOR UPDATE SKIP LOCKED). A job's
# ``idempotency_key`` is unique: planning the same event twice cannot make a second job.
# ``integration_connectors`` says which connector serves an integration and its
# non-secret settings (secrets live in ``credentials``). Discovery adds what it saw to
# ``service_accounts`` (the columns appended below) and records each run in
# ``sync_runs``; ``organization_domains`` tells external accounts from orphans.

EVENT_SOURCES = ("scim", "csv", "engine", "admin")


class EventUserId(FunctionElement[str]):
    """``data.user_id`` of an event (a service account's user), spelled as the index
    ``ix_events_data_user_id`` spells it, so that the index serves a comparison:
    ``(data ->> 'user_id')`` on PostgreSQL, ``json_extract(data, '$.user_id')`` on
    SQLite (``->>`` needs SQLite 3.38, newer than some distributions ship).
    """

    type = sa.String()
    inherit_cache = True
    name = "event_user_id"


@compiles(EventUserId)
def _event_user_id(element: EventUserId, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} ->> 'user_id')"


@compiles(EventUserId, "sqlite")
def _event_user_id_sqlite(element: EventUserId, compiler: Any, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.user_id')"


JOB_OPERATIONS = ("provision", "update", "deactivate", "reactivate", "deprovision")
JOB_STATUSES = ("pending", "running", "succeeded", "dead")

integration_connectors = sa.Table(
    "integration_connectors",
    metadata,
    sa.Column("integration_id", SERIAL, primary_key=True, autoincrement=False),
    sa.Column("organization_id", ORG_ID, nullable=False),
    # An entry point name of the ``scimserver.connectors`` group (manual, webhook, scim2).
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("settings", JsonDoc, nullable=False),
    # Jobs of this integration running at once, over all workers.
    sa.Column("max_concurrency", sa.Integer(), nullable=False),
    # Minimum milliseconds between two requests to the service, over all workers.
    sa.Column("min_interval_ms", sa.Integer(), nullable=False),
    # Added by revision 0009: the next free request slot, microseconds since the epoch
    # (scimcore.storage.sql.pacing reserves slots with one UPDATE ... RETURNING).
    sa.Column("next_call_us", sa.BigInteger(), nullable=True),
    # Set from a Retry-After: no worker calls the service before then.
    sa.Column("paused_until", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("last_error_at", UTCDateTime(), nullable=True),
    sa.Column("last_sync_started", UTCDateTime(), nullable=True),
    sa.Column("last_sync_finished", UTCDateTime(), nullable=True),
    sa.Column("last_successful_sync", UTCDateTime(), nullable=True),
    sa.Column("account_count", sa.Integer(), nullable=True),
    sa.Column("updated", UTCDateTime(), nullable=False),
    # Added by revision 0009: while the integration is ``quarantined``
    # (scimcore.provisioning.quarantine), since when, when one job may next be tried,
    # and how many trials have been let through.
    sa.Column("quarantined_since", UTCDateTime(), nullable=True),
    sa.Column("quarantine_next_trial", UTCDateTime(), nullable=True),
    sa.Column("quarantine_trials", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    # integration:accountId for a service account (revision 0011 widened it).
    sa.Column("resource_id", sa.String(320), nullable=False),
    # Never a secret (scimcore.provisioning.events.user_snapshot).
    sa.Column("data", JsonDoc, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("planned", sa.Boolean(), nullable=False),
    sa.CheckConstraint("source IN ('scim', 'csv', 'engine', 'admin')", name="source"),
    sa.Index("ix_events_organization_id_id", "organization_id", "id"),
    # Added by revision 0010: the Activity page's filter by user, one index per half of
    # the filter (a user's own events; its service accounts' events, by data.user_id).
    sa.Index("ix_events_resource", "organization_id", "resource_id", "id"),
    # Added by revision 0009: pruning finds events past the retention by age.
    sa.Index("ix_events_created", "created"),
    # The worker's queue, by organization: only unplanned rows are in it (revision 0016;
    # the planner probes it once per organization with events waiting).
    sa.Index(
        "ix_events_unplanned_org",
        "organization_id",
        "id",
        sqlite_where=sa.text("NOT planned"),
        postgresql_where=sa.text("NOT planned"),
    ),
    sqlite_autoincrement=True,
)
# Revision 0010, the other half of the Activity filter by user: a service account's
# events name their user in data.user_id.
sa.Index(
    "ix_events_data_user_id",
    events.c.organization_id,
    EventUserId(events.c.data),
    events.c.id,
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("integration_id", SERIAL, nullable=False),
    sa.Column("event_id", SERIAL, nullable=True),
    # Not a foreign key: the job outlives the user it deprovisions.
    sa.Column("user_id", ID, nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("payload", JsonDoc, nullable=False),
    sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("run_after", UTCDateTime(), nullable=False),
    sa.Column("locked_by", sa.String(64), nullable=True),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("result", JsonDoc, nullable=True),
    sa.Column("created", UTCDateTime(), nullable=False),
    sa.Column("updated", UTCDateTime(), nullable=False),
    sa.Column("finished", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint(
        "operation IN ('provision', 'update', 'deactivate', 'reactivate', 'deprovision')",
        name="operation",
    ),
    sa.CheckConstraint("status IN ('pending', 'running', 'succeeded', 'dead')", name="status"),
    sa.Index("ix_jobs_status_run_after", "status", "run_after"),
    # "Is an earlier job of this user in this integration still open?"
    sa.Index("ix_jobs_subject", "integration_id", "user_id", "id"),
    sqlite_autoincrement=True,
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("integration_id", SERIAL, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", UTCDateTime(), nullable=False),
    sa.Column("finished", UTCDateTime(), nullable=True),
    sa.Column("counts", JsonDoc, nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(
        ["organization_id", "integration_id"],
        ["integrations.organization_id", "integrations.id"],
        ondelete="CASCADE",
    ),
    sa.CheckConstraint("status IN ('running', 'succeeded', 'partial', 'failed')", name="status"),
    sa.Index("ix_sync_runs_integration_id_started", "integration_id", "started"),
    sqlite_autoincrement=True,
)

organization_domains = sa.Table(
    "organization_domains",
    metadata,
    sa.Column(
        "organization_id",
        ORG_ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Lowered by Python; an account whose e-mail domain is not here is "external".
    sa.Column("domain", sa.String(253), nullable=False),
    sa.PrimaryKeyConstraint("organization_id", "domain"),
)

# What discovery saw of each account (docs/connectors.md, Discovery): kept on ``service_accounts``.
for _column in (
    sa.Column("remote_status", sa.String(16), nullable=True),
    sa.Column("classification", sa.String(16), nullable=True),
    sa.Column("remote_email", sa.String(320), nullable=True),
    sa.Column("first_seen", UTCDateTime(), nullable=True),
    sa.Column("last_seen", UTCDateTime(), nullable=True),
):
    service_accounts.append_column(_column)
# Added by revision 0010: the console's account list filtered by classification (and
# the counts per classification) in id order, read from the index alone.
sa.Index(
    "ix_service_accounts_classification",
    service_accounts.c.organization_id,
    service_accounts.c.integration_id,
    service_accounts.c.classification,
    service_accounts.c.id,
    service_accounts.c.link_status,
)

# -- leavers' accounts kept on purpose (revision 0018) -------------------------------------
#
# An administrator marks a leaver's or an orphan's account as an exception (the console's
# dashboard, ``scimserver accounts except``): it is kept on purpose and leaves the list.
# One row per account (the primary key makes marking twice a no-op); it goes with the
# account (cascade), and undoing the exception deletes it.
account_exceptions = sa.Table(
    "account_exceptions",
    metadata,
    sa.Column(
        "service_account_id",
        SERIAL,
        sa.ForeignKey("service_accounts.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("organization_id", ORG_ID, nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("created", UTCDateTime(), nullable=False),
    # The dashboard's list of an organization's exceptions, newest first.
    sa.Index("ix_account_exceptions_organization_id", "organization_id", "created"),
)
