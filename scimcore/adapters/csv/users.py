"""Import and export of the user CSV: onboard a directory without an IdP.

Rows become SCIM Users through the SCIM API's own write path
(:class:`~scimcore.writes.ResourceWriter`: ``id``, ``meta`` and versions, immutables,
the password sealed, the events), validated by
:func:`~scimcore.schema.serializers.load_resource` / ``validate`` with the
organization's IdP profile, so a user imported here is indistinguishable from one an
IdP created. An UPDATE is written only if the user is still the version the batch
read: a SCIM write in between fails the row (``CONFLICT``) instead of being lost.

``userName`` is the key (matched case-insensitively) and cannot change. ``emails`` holds one or more
addresses separated by ``;``, the first one primary. ``manager`` holds the manager's
``userName`` (what an admin knows), stored as the enterprise extension's
``manager.value``, the manager's ``id`` (RFC 7643 4.3), and exported as the
``userName`` again. ``password`` is write-only: encrypted with the key ring, never
exported.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, BinaryIO

from ...accounts import KeyRing
from ...compat import AUTO, Profile
from ...errors import PreconditionFailed, ScimError
from ...filters import Compare, Filter, Or
from ...paths import resolve
from ...schema.core import ENTERPRISE_USER_SCHEMA, USER_RESOURCE
from ...schema.serializers import load_resource, validate
from ...storage.base import Query, Resource, Store, StoreSession
from ...writes import ResourceWriter
from .formats import USERS, format_bool, parse_bool, parse_operation
from .importer import (
    ImportOptions,
    ImportReport,
    Progress,
    RowError,
    RowResult,
    cell,
    failed,
    run_import,
    skipped,
)
from .reader import CsvRow, read_csv
from .writer import CsvWriter

NAME_PARTS = {"lastName": "familyName", "firstName": "givenName", "middleName": "middleName"}
TOP_LEVEL = ("externalId", "displayName", "nickName", "title")
ENTERPRISE = ("employeeNumber", "costCenter", "organization", "division", "department")
#: userName values looked up per query (an OR of equality filters).
LOOKUP_CHUNK = 50
EXPORT_PAGE = 1000


class UserImporter:
    """Applies a user CSV to one organization's SCIM Users."""

    #: Rows per transaction: each row is a SCIM write of its own, and on SQLite a
    #: transaction holds the only write lock, so SCIM requests wait for a whole batch.
    default_batch_size = 500

    def __init__(
        self,
        store: Store,
        organization_id: str,
        *,
        keyring: KeyRing | None = None,
        options: ImportOptions | None = None,
        profile: Profile = AUTO,
    ) -> None:
        """``profile``: the organization's IdP profile, which validates rows as it
        validates the IdP's requests."""
        self.store = store
        self.organization_id = organization_id
        self.keyring = keyring
        self.options = options or ImportOptions()
        self.profile = profile
        self.writer = ResourceWriter(keyring, source="csv")

    def run(self, data: bytes, progress: Progress | None = None) -> ImportReport:
        file = read_csv(data, USERS, max_bytes=self.options.max_bytes)
        return run_import(
            USERS.kind,
            file,
            lambda: self.store.session(self.organization_id),
            self,
            self.options,
            progress,
            default_batch_size=self.default_batch_size,
        )

    def apply_batch(self, session: StoreSession, rows: list[CsvRow]) -> list[RowResult]:
        names = {
            cell(r, column).lower()
            for r in rows
            for column in ("userName", "manager")
            if cell(r, column)
        }
        known: dict[str, Resource | None] = {
            str(user["userName"]).lower(): user for user in _find_users(session, "userName", names)
        }
        results = []
        for row in rows:
            if not row.get("operation").strip():
                results.append(skipped(row))
                continue
            try:
                results.append(self._apply(session, row, known))
            except RowError as exc:
                results.append(failed(row, exc))
            except ScimError as exc:
                results.append(failed(row, RowError(type(exc).__name__.upper(), exc.detail)))
        return results

    def _apply(
        self, session: StoreSession, row: CsvRow, known: dict[str, Resource | None]
    ) -> RowResult:
        if row.problem:
            raise RowError("BAD_ROW", row.problem)
        raw_op = row.get("operation").strip()
        op = parse_operation(raw_op)
        if op is None:
            raise RowError(
                "INVALID_OPERATION",
                f"'{raw_op}' is not an operation; expected CREATE, UPDATE or DELETE "
                "(any case), or blank to skip the row",
                "operation",
            )
        name = cell(row, "userName")
        if not name:
            raise RowError("MISSING_VALUE", f"a value is required for {op}", "userName")
        current = known.get(name.lower())
        if op == "CREATE":
            if current is not None:
                raise RowError(
                    "ALREADY_EXISTS",
                    f"'{name}' is already taken in this organization; use UPDATE",
                    "userName",
                )
            merged = self._merge(row, {"userName": name}, known)
            data = self.writer.create(
                session, USER_RESOURCE, load_resource(USER_RESOURCE, merged, self.profile)
            )
            known[name.lower()] = data
            return RowResult(row.number, "created")
        if current is None:
            raise RowError("UNKNOWN_USER", f"no user with userName '{name}'", "userName")
        if op == "DELETE":
            self.writer.delete(session, USER_RESOURCE, current["id"], current)
            known[name.lower()] = None
            return RowResult(row.number, "deleted")
        merged = self._merge(row, copy.deepcopy(current), known)
        updated = validate(USER_RESOURCE, merged, self.profile)
        try:
            version = self.writer.replace_if_changed(
                session, USER_RESOURCE, current, updated, keep_absent_secrets=True
            )
        except PreconditionFailed:
            raise RowError(
                "CONFLICT",
                f"'{name}' was changed by another writer (an IdP, the console) after this "
                "batch read it; nothing was written for this row: import it again to apply it",
                "userName",
            ) from None
        if version is None:
            return RowResult(row.number, "unchanged")
        known[name.lower()] = updated
        return RowResult(row.number, "updated")

    def _merge(self, row: CsvRow, data: Resource, known: dict[str, Resource | None]) -> Resource:
        """``data`` with the row's non-empty cells applied (an empty cell changes nothing).

        ``known`` maps lower-cased userNames to the users as of this row (``None`` once
        deleted), so a manager created by an earlier row of the file is found.
        """
        data.setdefault("schemas", [USER_RESOURCE.schema.id])
        for column, attr in NAME_PARTS.items():
            if value := cell(row, column):
                data.setdefault("name", {})[attr] = value
        for column in TOP_LEVEL:
            if value := cell(row, column):
                data[column] = value
        if value := cell(row, "emails"):
            addresses = [a.strip() for a in value.split(";") if a.strip()]
            stored = [e.get("value", "").lower() for e in data.get("emails", [])]
            if stored != [a.lower() for a in addresses]:
                data["emails"] = [
                    {"value": a, "type": "work", "primary": True}
                    if i == 0
                    else {"value": a, "type": "other"}
                    for i, a in enumerate(addresses)
                ]
        if value := cell(row, "active"):
            active = parse_bool(value)
            if active is None:
                raise RowError("INVALID_VALUE", f"expected TRUE or FALSE, got '{value}'", "active")
            data["active"] = active
        for column in ENTERPRISE:
            if value := cell(row, column):
                data.setdefault(ENTERPRISE_USER_SCHEMA, {})[column] = value
        if value := cell(row, "manager"):
            manager = known.get(value.lower())
            if manager is None:
                raise RowError(
                    "UNKNOWN_USER",
                    f"no user with userName '{value}'; expected the userName of an existing "
                    "user, or of one created by an earlier row of this file",
                    "manager",
                )
            enterprise = data.setdefault(ENTERPRISE_USER_SCHEMA, {})
            if (enterprise.get("manager") or {}).get("value") != manager["id"]:
                enterprise["manager"] = {"value": manager["id"]}
        if ENTERPRISE_USER_SCHEMA in data and ENTERPRISE_USER_SCHEMA not in data["schemas"]:
            data["schemas"] = [*data["schemas"], ENTERPRISE_USER_SCHEMA]
        if password := row.get("password"):
            if self.keyring is None:
                raise RowError(
                    "NO_ENCRYPTION_KEY",
                    "cannot be stored: no encryption key is configured (set "
                    "SCIMSERVER_SECRET_KEYS); passwords are never stored in plain text",
                    "password",
                )
            data["password"] = password  # sealed by the writer
        return data


def _find_users(session: StoreSession, attribute: str, values: set[str]) -> Iterator[Resource]:
    """The users whose ``attribute`` equals one of ``values``: one query per chunk."""
    path = resolve(USER_RESOURCE, attribute)
    ordered = sorted(values)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        flt: Filter = Compare(path, "eq", chunk[0])
        for value in chunk[1:]:
            flt = Or(flt, Compare(path, "eq", value))
        page = session.query(USER_RESOURCE.id, Query(filter=flt, count=len(chunk), relations=False))
        yield from page.resources


def export_users(
    store: Store,
    organization_id: str,
    out: BinaryIO,
    *,
    bom: bool = False,
    formula_guard: bool = True,
) -> int:
    """Every User as a user CSV (``operation`` and ``password`` blank); the row count."""
    count = 0
    with (
        store.session(organization_id) as session,
        CsvWriter(out, bom=bom, formula_guard=formula_guard) as writer,
    ):
        writer.writerow(USERS.names)
        start = 1
        while True:
            page = session.query(
                USER_RESOURCE.id, Query(start_index=start, count=EXPORT_PAGE, relations=False)
            )
            managers = _manager_names(session, page.resources)
            for resource in page.resources:
                writer.writerow(_user_row(resource, managers))
                count += 1
            start += len(page.resources)
            if not page.resources or start > page.total:
                return count


def _manager_id(user: Resource) -> str:
    enterprise: dict[str, Any] = user.get(ENTERPRISE_USER_SCHEMA) or {}
    manager = enterprise.get("manager")
    return str(manager.get("value") or "") if isinstance(manager, dict) else ""


def _manager_names(session: StoreSession, users: list[Resource]) -> dict[str, str]:
    """The userNames of a page's managers by id, looked up together; a deleted one is absent."""
    wanted = {mid for user in users if (mid := _manager_id(user))}
    names = {str(u["id"]): str(u["userName"]) for u in users if u["id"] in wanted}
    if missing := wanted - names.keys():
        names.update(
            (str(u["id"]), str(u["userName"])) for u in _find_users(session, "id", missing)
        )
    return names


def _user_row(user: Resource, managers: dict[str, str]) -> list[str]:
    name: dict[str, Any] = user.get("name") or {}
    enterprise: dict[str, Any] = user.get(ENTERPRISE_USER_SCHEMA) or {}
    emails = [str(e.get("value", "")) for e in user.get("emails") or [] if e.get("value")]
    primary = [e for e in user.get("emails") or [] if e.get("primary") is True]
    if primary and primary[0].get("value") in emails:
        emails.remove(primary[0]["value"])
        emails.insert(0, primary[0]["value"])
    values: dict[str, str] = {
        "userName": str(user.get("userName", "")),
        **{col: str(name.get(attr) or "") for col, attr in NAME_PARTS.items()},
        **{col: str(user.get(col) or "") for col in TOP_LEVEL},
        "emails": ";".join(emails),
        "active": format_bool(user.get("active")),
        **{col: str(enterprise.get(col) or "") for col in ENTERPRISE},
        "manager": managers.get(_manager_id(user), ""),
    }
    return [values.get(column, "") for column in USERS.names]
