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
from ...provisioning.events import NewEvent
from .engine import SQLITE_BEGIN_OPTION
from .outbox import insert_event
from .store import _unavailable
from .tables import integrations, resources, service_accounts

#: Rows fetched per round trip when streaming an export.
STREAM_CHUNK = 1000


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
        return [_integration(row) for row in rows]

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
        rows = self.conn.execute(
            sa.select(r.name_key, r.id).where(
                r.organization_id == self.org,
                r.resource_type == "User",
                r.name_key.in_(keys),
            )
        )
        return {row[0]: row[1] for row in rows}

    def find_accounts(
        self,
        by_user: Collection[tuple[int, str]] = (),
        by_account: Collection[tuple[int, str]] = (),
    ) -> list[ServiceAccount]:
        c = service_accounts.c
        # One ``integration_id = ? AND x IN (...)`` per integration: each is a range of
        # the matching unique index, where a row-value IN would scan the table.
        either: list[sa.ColumnElement[bool]] = []
        for column, pairs in ((c.user_id, by_user), (c.account_id, by_account)):
            grouped: dict[int, list[str]] = {}
            for integration_id, value in pairs:
                grouped.setdefault(integration_id, []).append(value)
            either.extend(
                sa.and_(c.integration_id == integration_id, column.in_(values))
                for integration_id, values in grouped.items()
            )
        if not either:
            return []
        rows = self.conn.execute(
            sa.select(service_accounts)
            .where(c.organization_id == self.org, sa.or_(*either))
            .order_by(c.id)
        ).mappings()
        return [_account(row) for row in rows]

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
                        sa.update(service_accounts)
                        .where(c.organization_id == self.org, c.id == sa.bindparam("row_id"))
                        .values(
                            account_id=sa.bindparam("new_account_id"),
                            mail_proxy_active=sa.bindparam("new_mail_proxy_active"),
                            license_profile=sa.bindparam("new_license_profile"),
                            immutable_id=sa.bindparam("new_immutable_id"),
                            scim_user_resource_id=sa.bindparam("new_scim_user_resource_id"),
                            service_password_ciphertext=sa.func.coalesce(
                                sa.bindparam("new_password", type_=sa.Text()),
                                c.service_password_ciphertext,
                            ),
                            updated=now,
                        ),
                        [
                            {
                                "row_id": row_id,
                                "new_account_id": v.account_id,
                                "new_mail_proxy_active": v.mail_proxy_active,
                                "new_license_profile": v.license_profile,
                                "new_immutable_id": v.immutable_id,
                                "new_scim_user_resource_id": v.scim_user_resource_id,
                                "new_password": v.service_password_ciphertext,
                            }
                            for row_id, v in updates
                        ],
                    )
                if inserts:
                    self.conn.execute(
                        sa.insert(service_accounts),
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


def _integration(row: RowMapping) -> Integration:
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
        with _unavailable():
            conn = self.engine.connect()
            try:
                if self.sqlite and not readonly:
                    conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    yield SqlAccountSession(conn, organization_id)
            finally:
                conn.close()
