"""The SQL :class:`~scimcore.accounts.AccountStore`, on the same engine as :class:`SqlStore`.

Users are looked up in the ``resources`` table the SCIM API writes, so a user created
through SCIM can be linked at once, and deleting the user removes its links (foreign
key cascade). Reads and writes are set-based: the CSV importer looks up and writes a
whole batch of rows with a handful of statements, each taking the batch's keys or rows
as one parameter (a JSON array on SQLite, see :mod:`.json_rows`; an array or JSON on
PostgreSQL), so neither the batch size nor SQLite's limit on parameters splits them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from ...accounts.models import (
    AccountListing,
    AccountValues,
    DeprovisionPolicy,
    Integration,
    IntegrationSettings,
    ServiceAccount,
    ServiceKind,
)
from ...errors import InvalidValue, NotFound, Uniqueness
from ...provisioning.events import (
    ACCOUNT_EVENT_KEYS,
    ACCOUNT_LINKED,
    ACCOUNT_UNLINKED,
    ACCOUNT_UPDATED,
    NewEvent,
    Source,
)
from ...provisioning.jobs import PLANNED_SOURCES
from .engine import transaction
from .json_rows import ROWS, Kind, dump_rows, element, insert_select, json_array, json_object
from .outbox import insert_event
from .tables import UTCDateTime, events, integrations, resources, service_accounts

#: Rows fetched per round trip when streaming an export.
STREAM_CHUNK = 1000
#: Keys per lookup statement.
LOOKUP_CHUNK = 10_000

_c = service_accounts.c
# Built once: a statement built per call costs more in SQLAlchemy's coercion and
# cache-key generation than the rows it writes.
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

    def update_integration(
        self,
        integration_id: int,
        *,
        display_name: str | None = None,
        license_profiles: Sequence[str] | None = None,
        on_service_account_delete: DeprovisionPolicy | None = None,
    ) -> Integration:
        i, a = integrations.c, service_accounts.c
        mine = (i.organization_id == self.org, i.id == integration_id)
        values: dict[str, Any] = {"updated": _now()}
        if display_name is not None:
            values["display_name"] = display_name
        if on_service_account_delete is not None:
            values["on_service_account_delete"] = on_service_account_delete
        if license_profiles is not None:
            kept = list(dict.fromkeys(p.strip() for p in license_profiles if p.strip()))
            values["license_profiles"] = kept
            # In the same transaction as the update: a profile still held stays.
            held = self.conn.execute(
                sa.select(a.license_profile, sa.func.count())
                .where(
                    a.organization_id == self.org,
                    a.integration_id == integration_id,
                    a.license_profile.is_not(None),
                    a.license_profile.not_in(kept) if kept else sa.true(),
                )
                .group_by(a.license_profile)
                .order_by(a.license_profile)
            ).first()
            if held is not None:
                raise InvalidValue(
                    f"The license profile '{held[0]}' is held by {held[1]} account(s); "
                    "change their licenseProfile first (a CSV UPDATE), then remove it."
                )
        try:
            with self.conn.begin_nested():
                row = (
                    self.conn.execute(
                        sa.update(integrations)
                        .where(*mine)
                        .values(**values)
                        .returning(integrations)
                    )
                    .mappings()
                    .first()
                )
        except sa.exc.IntegrityError as exc:
            raise Uniqueness(
                f"A service named '{display_name}' already exists in this organization."
            ) from exc
        if row is None:
            raise NotFound(f"Integration {integration_id} does not exist.")
        return integration_from_row(row)

    def delete_integration(self, integration_id: int) -> int:
        i, a = integrations.c, service_accounts.c
        accounts = self.conn.execute(
            sa.select(sa.func.count()).where(
                a.organization_id == self.org, a.integration_id == integration_id
            )
        ).scalar_one()
        gone = self.conn.execute(
            sa.delete(integrations).where(i.organization_id == self.org, i.id == integration_id)
        )
        if gone.rowcount == 0:
            raise NotFound(f"Integration {integration_id} does not exist.")
        return int(accounts)

    def user_ids(self, user_names: Collection[str]) -> dict[str, str]:
        # Sorted: probes in index order touch each index page once (0.43 -> 0.30 s for
        # 100,000 users on SQLite).
        keys = sorted({n.lower() for n in user_names})
        if not keys:
            return {}
        found: dict[str, str] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            dialect = self.conn.dialect.name
            params = {
                "org": self.org,
                "keys": _list_param(dialect, keys[start : start + LOOKUP_CHUNK]),
            }
            # all(): one fetchall, not a fetchone per row (a third of the lookup's time).
            found.update(self.conn.execute(_USER_LOOKUP[dialect], params).all())
        return found

    def find_accounts(
        self,
        by_user: Collection[tuple[int, str]] = (),
        by_account: Collection[tuple[int, str]] = (),
    ) -> list[ServiceAccount]:
        c = service_accounts.c
        # One statement per integration and key column, ``integration_id = ? AND x = key``
        # for each key, and nothing else in the WHERE clause: exactly the leading columns
        # of that column's unique index, so both planners probe it whatever they know
        # about the table. (With ``organization_id`` in it too, SQLite and PostgreSQL -
        # with the statistics of a table an import is filling - chose the organization's
        # or the integration's index and compared every row with the list: quadratic in
        # the import.) The organization is checked here instead. The keys come from
        # ``unnest`` (PostgreSQL, LATERAL: without column statistics ``= ANY`` still
        # filtered the integration's rows) or ``json_each`` (SQLite, CROSS JOIN: the
        # list drives the join); see _ACCOUNT_LOOKUP.
        found: dict[int, RowMapping] = {}
        for column, pairs in ((c.user_id, by_user), (c.account_id, by_account)):
            grouped: dict[int, list[str]] = {}
            for integration_id, value in pairs:
                grouped.setdefault(integration_id, []).append(value)
            for integration_id, values in grouped.items():
                values.sort()  # probes in index order, as in user_ids
                for start in range(0, len(values), LOOKUP_CHUNK):
                    dialect = self.conn.dialect.name
                    chunk = _list_param(dialect, values[start : start + LOOKUP_CHUNK])
                    params = {"integration_id": integration_id, "keys": chunk}
                    statement = _ACCOUNT_LOOKUP[dialect][column.name]
                    for row in self.conn.execute(statement, params).mappings().all():
                        if row["organization_id"] == self.org:
                            found[row["id"]] = row
        return [_account(found[key]) for key in sorted(found)]

    def apply(
        self,
        deletes: Sequence[int] = (),
        updates: Sequence[tuple[int, AccountValues]] = (),
        inserts: Sequence[AccountValues] = (),
        *,
        source: Source = "csv",
    ) -> None:
        """Write the changes and, in the same savepoint, one outbox event per change.

        The events (``account.unlinked``, ``account.updated``, ``account.linked``, in
        that order) are built by the database from the rows being written, with the
        payload of :data:`ACCOUNT_EVENT_KEYS`: no Python object per event (at 100,000
        rows, building them cost as much as writing them).
        """
        now = _now()
        dialect = self.conn.dialect.name
        planned = source not in PLANNED_SOURCES
        common = {"org": self.org, "now": now, "source": source, "planned": planned}
        try:
            with self.conn.begin_nested():
                if deletes:
                    ids = _list_param(dialect, list(deletes))
                    self.conn.execute(
                        _STORED_EVENTS[dialect][ACCOUNT_UNLINKED], {**common, "ids": ids}
                    )
                    self.conn.execute(_DELETE_ACCOUNTS[dialect], {"org": self.org, "ids": ids})
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
                    ids = _list_param(dialect, [row_id for row_id, _ in updates])
                    self.conn.execute(
                        _STORED_EVENTS[dialect][ACCOUNT_UPDATED], {**common, "ids": ids}
                    )
                if inserts:
                    rows = [
                        (
                            v.integration_id,
                            v.user_id,
                            v.account_id,
                            v.link_method,
                            v.mail_proxy_active,
                            v.license_profile,
                            v.immutable_id,
                            v.scim_user_resource_id,
                            v.service_password_ciphertext,
                        )
                        for v in inserts
                    ]
                    params = {**common, ROWS: dump_rows(rows)}
                    self.conn.execute(_INSERT_ACCOUNTS[dialect], params)
                    self.conn.execute(_INSERTED_EVENTS[dialect], params)
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


def _list_param(dialect: str, values: list[Any]) -> object:
    """A list as one parameter: an array (PostgreSQL), JSON text for ``json_each`` (SQLite)."""
    return values if dialect == "postgresql" else json.dumps(values)


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


def _sqlite_lookup(column: str) -> sa.TextualSelect:
    """SQLite: one probe of the unique index per key of the ``json_each`` list."""
    assert column in ("user_id", "account_id")
    return sa.text(
        "SELECT s.* FROM json_each(:keys) AS k CROSS JOIN service_accounts AS s "
        f"WHERE s.integration_id = :integration_id AND s.{column} = k.value"
    ).columns(*service_accounts.c)


_ACCOUNT_LOOKUP = {
    "postgresql": {name: _lateral_lookup(name) for name in ("user_id", "account_id")},
    "sqlite": {name: _sqlite_lookup(name) for name in ("user_id", "account_id")},
}
#: Users by lowered userName, one probe of the unique key each (as above).
_USER_LOOKUP = {
    "postgresql": sa.text(
        "SELECT r.name_key, r.id FROM unnest(CAST(:keys AS text[])) AS k(v) CROSS JOIN LATERAL "
        "(SELECT name_key, id FROM resources WHERE organization_id = :org "
        "AND resource_type = 'User' AND name_key = k.v) AS r"
    ),
    "sqlite": sa.text(
        "SELECT r.name_key, r.id FROM json_each(:keys) AS k CROSS JOIN resources AS r "
        "WHERE r.organization_id = :org AND r.resource_type = 'User' AND r.name_key = k.value"
    ),
}
#: Accounts by row id. On SQLite the unary ``+`` keeps ``organization_id`` out of index
#: selection: given the choice, the planner scanned the organization's accounts for the
#: ids instead of probing the primary key once per id.
_DELETE_ACCOUNTS = {
    "postgresql": sa.text(
        "DELETE FROM service_accounts WHERE organization_id = :org "
        "AND id = ANY(CAST(:ids AS bigint[]))"
    ),
    "sqlite": sa.text(
        "DELETE FROM service_accounts WHERE id IN (SELECT value FROM json_each(:ids)) "
        "AND +organization_id = :org"
    ),
}


#: The columns of an inserted account, in the order of a ``:rows`` element.
_ROW_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("integration_id", "int"),
    ("user_id", "text"),
    ("account_id", "text"),
    ("link_method", "text"),
    ("mail_proxy_active", "bool"),
    ("license_profile", "text"),
    ("immutable_id", "text"),
    ("scim_user_resource_id", "text"),
    ("service_password_ciphertext", "text"),
)


def _insert_accounts(dialect: str) -> sa.TextClause:
    """New linked accounts, one per row of the ``:rows`` array (see :meth:`apply`)."""
    values = {"organization_id": ":org", "link_status": "'linked'"}
    for position, (name, kind) in enumerate(_ROW_FIELDS):
        values[name] = element(dialect, position, kind)
    values |= {"created": ":now", "updated": ":now"}
    return insert_select(service_accounts, dialect, values).bindparams(
        sa.bindparam("now", type_=UTCDateTime())
    )


def _event_values(dialect: str, kind: str, column: Callable[[str], str]) -> dict[str, str]:
    """The ``events`` row of an account event; ``column`` gives the SQL of an account
    column. The payload has the keys of :data:`ACCOUNT_EVENT_KEYS`."""
    integration_id, account_id = column("integration_id"), column("account_id")
    remote_id = column("scim_user_resource_id")
    source = "CAST(:source AS TEXT)"
    payload = {
        "integration_id": integration_id,
        "user_id": column("user_id"),
        "account_id": account_id,
        "remote_id": remote_id,
        "method": source,
    }
    if kind == ACCOUNT_UNLINKED:
        link = {"integration_id": integration_id, "account_id": account_id, "remote_id": remote_id}
        payload["links"] = json_array(dialect, [json_object(dialect, link)])
    assert set(payload) == set(ACCOUNT_EVENT_KEYS[kind]), kind
    return {
        "organization_id": "CAST(:org AS TEXT)",
        "type": f"'{kind}'",
        "resource_type": "'ServiceAccount'",
        "resource_id": f"{integration_id} || ':' || {account_id}",
        "data": json_object(dialect, payload),
        "source": source,
        "created": ":now",
        "planned": ":planned",
    }


def _inserted_events(dialect: str) -> sa.TextClause:
    """``account.linked`` for each row of the ``:rows`` array of :func:`_insert_accounts`."""
    positions = {name: (position, kind) for position, (name, kind) in enumerate(_ROW_FIELDS)}
    values = _event_values(dialect, ACCOUNT_LINKED, lambda name: element(dialect, *positions[name]))
    return insert_select(events, dialect, values).bindparams(
        sa.bindparam("now", type_=UTCDateTime())
    )


def _stored_events(dialect: str, kind: str) -> sa.TextClause:
    """``kind`` for each stored account in ``:ids`` (read before a delete, after an update)."""
    values = _event_values(dialect, kind, lambda name: f"s.{name}")
    if dialect == "postgresql":
        # :org is also in the select list, as text: the same type here, or PostgreSQL
        # cannot tell which type the parameter has.
        where = "s.id = ANY(CAST(:ids AS bigint[])) AND s.organization_id = CAST(:org AS TEXT)"
    else:  # the unary + as in _DELETE_ACCOUNTS
        where = "s.id IN (SELECT value FROM json_each(:ids)) AND +s.organization_id = :org"
    return sa.text(
        f"INSERT INTO events ({', '.join(values)}) SELECT {', '.join(values.values())} "
        f"FROM service_accounts AS s WHERE {where} ORDER BY s.id"
    ).bindparams(sa.bindparam("now", type_=UTCDateTime()))


_DIALECTS = ("sqlite", "postgresql")
_INSERT_ACCOUNTS = {dialect: _insert_accounts(dialect) for dialect in _DIALECTS}
_INSERTED_EVENTS = {dialect: _inserted_events(dialect) for dialect in _DIALECTS}
_STORED_EVENTS = {
    dialect: {kind: _stored_events(dialect, kind) for kind in (ACCOUNT_UNLINKED, ACCOUNT_UPDATED)}
    for dialect in _DIALECTS
}


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
