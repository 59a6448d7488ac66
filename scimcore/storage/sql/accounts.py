"""The SQL :class:`~scimcore.accounts.AccountStore`, on the same engine as :class:`SqlStore`.

Users are looked up in the ``resources`` table the SCIM API writes, so a user created
through SCIM can be linked at once, and deleting the user removes its links (foreign
key cascade). Reads and writes are set-based: the CSV importer looks up and writes a
whole batch of rows with a handful of statements.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from ...accounts.models import (
    AccountListing,
    AccountValues,
    Integration,
    IntegrationSettings,
    ServiceAccount,
    ServiceKind,
)
from ...errors import InvalidValue, NotFound, Uniqueness
from ...provisioning.events import USER_DELETED, NewEvent
from ...provisioning.jobs import PLANNED_SOURCES
from .engine import transaction
from .outbox import insert_event
from .tables import events, integrations, resources, service_accounts

#: Rows fetched per round trip when streaming an export.
STREAM_CHUNK = 1000
#: Keys per ``IN (...)`` lookup.
LOOKUP_CHUNK = 500

_c = service_accounts.c
# Built once: a statement built per call costs more in SQLAlchemy's coercion and
# cache-key generation than the rows it writes.
_INSERT_ACCOUNTS = sa.insert(service_accounts)
_INSERT_EVENTS = sa.insert(events)
_UPDATE_ACCOUNTS = (
    sa.update(service_accounts)
    .where(_c.organization_id == sa.bindparam("org"), _c.id == sa.bindparam("row_id"))
    .values(
        account_id=sa.bindparam("new_account_id"),
        mail_proxy_active=sa.bindparam("new_mail_proxy_active"),
        license_profile=sa.bindparam("new_license_profile"),
        immutable_id=sa.bindparam("new_immutable_id"),
        scim_user_resource_id=sa.bindparam("new_scim_user_resource_id"),
        service_password_ciphertext=sa.func.coalesce(
            sa.bindparam("new_password", type_=sa.Text()),
            _c.service_password_ciphertext,
        ),
        updated=sa.bindparam("now", type_=service_accounts.c.updated.type),
    )
)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlAccountSession:
    """One transaction (:class:`~scimcore.accounts.AccountSession`)."""

    def __init__(self, conn: Connection, organization_id: str) -> None:
        self.conn = conn
        self.org = organization_id

    def integrations(self) -> list[Integration]:
        i = integrations.c
        rows = self.conn.execute(
            sa.select(integrations).where(i.organization_id == self.org).order_by(i.id)
        ).mappings()
        return [integration_from_row(row) for row in rows]

    def create_integration(
        self,
        display_name: str,
        kind: ServiceKind,
        settings: IntegrationSettings,
        *,
        is_manual: bool = True,
    ) -> Integration:
        now = _now()
        try:
            with self.conn.begin_nested():
                new_id = self.conn.execute(
                    sa.insert(integrations)
                    .values(
                        organization_id=self.org,
                        display_name=display_name,
                        kind=kind,
                        is_manual=is_manual,
                        license_profiles=list(settings.license_profiles),
                        scim_user_resource_id_mode=settings.scim_user_resource_id_mode,
                        on_service_account_delete=settings.on_service_account_delete,
                        provisioning_enabled=settings.provisioning_enabled,
                        created=now,
                        updated=now,
                    )
                    .returning(integrations.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError as exc:
            if "display_name" in str(exc.orig):
                raise Uniqueness(
                    f"A service named '{display_name}' already exists in this organization."
                ) from exc
            raise NotFound(f"Organization '{self.org}' does not exist.") from exc
        return Integration(new_id, self.org, display_name, kind, is_manual, settings, now)

    def user_ids(self, user_names: Collection[str]) -> dict[str, str]:
        keys = list({n.lower() for n in user_names})
        if not keys:
            return {}
        r = resources.c
        found: dict[str, str] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            if self.conn.dialect.name == "postgresql":
                rows = self.conn.execute(_USER_LOOKUP, {"org": self.org, "keys": chunk})
            else:
                rows = self.conn.execute(
                    sa.select(r.name_key, r.id).where(
                        r.organization_id == self.org,
                        r.resource_type == "User",
                        r.name_key.in_(chunk),
                    )
                )
            found.update((row[0], row[1]) for row in rows)
        return found

    def find_accounts(
        self,
        by_user: Collection[tuple[int, str]] = (),
        by_account: Collection[tuple[int, str]] = (),
    ) -> list[ServiceAccount]:
        c = service_accounts.c
        # One statement per integration and key column, ``integration_id = ? AND x IN
        # (...)``, and nothing else in the WHERE clause: exactly the leading columns of
        # that column's unique index, so both planners probe it whatever they know about
        # the table. (With ``organization_id`` in it too, SQLite and PostgreSQL - with the
        # statistics of a table an import is filling - chose the organization's or the
        # integration's index and compared every row with the list: quadratic in the
        # import.) The organization is checked here instead. On PostgreSQL even that
        # is not enough (without column statistics it still filters the integration's
        # rows), so each key is probed on its own from ``unnest`` (see _LATERAL_LOOKUP).
        found: dict[int, RowMapping] = {}
        for column, pairs in ((c.user_id, by_user), (c.account_id, by_account)):
            grouped: dict[int, list[str]] = {}
            for integration_id, value in pairs:
                grouped.setdefault(integration_id, []).append(value)
            for integration_id, values in grouped.items():
                for start in range(0, len(values), LOOKUP_CHUNK):
                    chunk = values[start : start + LOOKUP_CHUNK]
                    if self.conn.dialect.name == "postgresql":
                        statement = _LATERAL_LOOKUP[column.name]
                        params = {"integration_id": integration_id, "keys": chunk}
                        rows = self.conn.execute(statement, params).mappings()
                    else:
                        rows = self.conn.execute(
                            sa.select(service_accounts).where(
                                c.integration_id == integration_id, column.in_(chunk)
                            )
                        ).mappings()
                    for row in rows:
                        if row["organization_id"] == self.org:
                            found[row["id"]] = row
        return [_account(found[key]) for key in sorted(found)]

    def apply(
        self,
        deletes: Sequence[int] = (),
        updates: Sequence[tuple[int, AccountValues]] = (),
        inserts: Sequence[AccountValues] = (),
    ) -> None:
        c = service_accounts.c
        now = _now()
        try:
            with self.conn.begin_nested():
                if deletes:
                    self.conn.execute(
                        sa.delete(service_accounts).where(
                            c.organization_id == self.org, c.id.in_(list(deletes))
                        )
                    )
                if updates:
                    self.conn.execute(
                        _UPDATE_ACCOUNTS,
                        [
                            {
                                "org": self.org,
                                "row_id": row_id,
                                "new_account_id": v.account_id,
                                "new_mail_proxy_active": v.mail_proxy_active,
                                "new_license_profile": v.license_profile,
                                "new_immutable_id": v.immutable_id,
                                "new_scim_user_resource_id": v.scim_user_resource_id,
                                "new_password": v.service_password_ciphertext,
                                "now": now,
                            }
                            for row_id, v in updates
                        ],
                    )
                if inserts:
                    self.conn.execute(
                        _INSERT_ACCOUNTS,
                        [
                            {
                                "organization_id": self.org,
                                "integration_id": v.integration_id,
                                "user_id": v.user_id,
                                "account_id": v.account_id,
                                "link_status": "linked",
                                "link_method": v.link_method,
                                "last_access_time": None,
                                "mail_proxy_active": v.mail_proxy_active,
                                "license_profile": v.license_profile,
                                "immutable_id": v.immutable_id,
                                "scim_user_resource_id": v.scim_user_resource_id,
                                "service_password_ciphertext": v.service_password_ciphertext,
                                "created": now,
                                "updated": now,
                            }
                            for v in inserts
                        ],
                    )
        except sa.exc.IntegrityError as exc:
            text = str(exc.orig)
            if "account_id" in text:
                raise Uniqueness("That accountId is already linked in this service.") from exc
            if "user_id" in text and ("uq_" in text or "UNIQUE" in text):
                raise Uniqueness("That user already has an account in this service.") from exc
            raise NotFound("The user or the service no longer exists.") from exc
        except sa.exc.DataError as exc:
            raise InvalidValue("A value is too long for the database.") from exc

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.conn.begin_nested():
            yield

    def record_event(self, event: NewEvent) -> None:
        """Write ``event`` to the outbox in this transaction (see :mod:`.outbox`)."""
        insert_event(self.conn, self.org, event)

    def record_events(self, new: Sequence[NewEvent]) -> None:
        """Write several events with one statement: what :meth:`record_event` writes."""
        if any(e.resource_type == "User" and e.type == USER_DELETED for e in new):
            for event in new:  # these need their user's links read first
                insert_event(self.conn, self.org, event)
            return
        if not new:
            return
        now = _now()
        self.conn.execute(
            _INSERT_EVENTS,
            [
                {
                    "organization_id": self.org,
                    "type": e.type,
                    "resource_type": e.resource_type,
                    "resource_id": e.resource_id,
                    "data": dict(e.data),
                    "source": e.source,
                    "created": now,
                    "planned": e.source not in PLANNED_SOURCES,
                }
                for e in new
            ],
        )

    def iter_accounts(self) -> Iterator[AccountListing]:
        c, i, r = service_accounts.c, integrations.c, resources.c
        q = (
            sa.select(service_accounts, i.display_name, r.name.label("user_name"))
            .join_from(
                service_accounts,
                integrations,
                sa.and_(i.organization_id == c.organization_id, i.id == c.integration_id),
            )
            .outerjoin(
                resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id)
            )
            .where(c.organization_id == self.org)
            .order_by(c.id)
            .execution_options(yield_per=STREAM_CHUNK)
        )
        for row in self.conn.execute(q).mappings():
            yield AccountListing(_account(row), row["display_name"], row["user_name"])


def _lateral_lookup(column: str) -> sa.TextualSelect:
    """PostgreSQL: one probe of the unique index per key, the plan forced by LATERAL.

    A full-key equality on a unique index is planned as an index scan whatever the
    statistics say; ``= ANY(list)`` is not.
    """
    assert column in ("user_id", "account_id")
    return sa.text(
        "SELECT s.* FROM unnest(CAST(:keys AS text[])) AS k(v) CROSS JOIN LATERAL "
        "(SELECT * FROM service_accounts WHERE integration_id = :integration_id "
        f"AND {column} = k.v) AS s"
    ).columns(*service_accounts.c)


_LATERAL_LOOKUP = {name: _lateral_lookup(name) for name in ("user_id", "account_id")}
#: PostgreSQL: users by lowered userName, one probe of the unique key each (as above).
_USER_LOOKUP = sa.text(
    "SELECT r.name_key, r.id FROM unnest(CAST(:keys AS text[])) AS k(v) CROSS JOIN LATERAL "
    "(SELECT name_key, id FROM resources WHERE organization_id = :org "
    "AND resource_type = 'User' AND name_key = k.v) AS r"
)


def integration_from_row(row: RowMapping) -> Integration:
    """An :class:`Integration` from an ``integrations`` row (shared with the provisioning store)."""
    return Integration(
        id=row["id"],
        organization_id=row["organization_id"],
        display_name=row["display_name"],
        kind=row["kind"],
        is_manual=row["is_manual"],
        settings=IntegrationSettings(
            license_profiles=tuple(row["license_profiles"] or ()),
            scim_user_resource_id_mode=row["scim_user_resource_id_mode"],
            on_service_account_delete=row["on_service_account_delete"],
            provisioning_enabled=row["provisioning_enabled"],
        ),
        created=row["created"],
        status=row["status"],
    )


def _account(row: RowMapping) -> ServiceAccount:
    return ServiceAccount(
        id=row["id"],
        integration_id=row["integration_id"],
        user_id=row["user_id"],
        account_id=row["account_id"],
        link_status=row["link_status"],
        link_method=row["link_method"],
        last_access_time=row["last_access_time"],
        mail_proxy_active=row["mail_proxy_active"],
        license_profile=row["license_profile"],
        immutable_id=row["immutable_id"],
        scim_user_resource_id=row["scim_user_resource_id"],
        has_service_password=row["service_password_ciphertext"] is not None,
    )


class SqlAccountStore:
    """Integrations and service accounts in the SQL database of a :class:`SqlStore`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def accounts(
        self, organization_id: str, *, readonly: bool = False
    ) -> Iterator[SqlAccountSession]:
        """A transaction; on SQLite a writing one takes the write lock up front."""
        with transaction(self.engine, write=not readonly) as conn:
            yield SqlAccountSession(conn, organization_id)
