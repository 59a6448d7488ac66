"""Import and export of the service-account CSV (docs/csv.md).

Rows are checked in the order of the CloudGate UNO specification: operation, required
cells, cell formats, references (service, user, license profile), immutability
(``accountId``, ``immutableId``, ``scimUserResourceId``), uniqueness, then the
service-specific rules.

A batch of rows is planned in memory against the stored accounts it touches (looked
up with set-based queries) plus the effect of the earlier rows of the same batch, so
rows touching the same key apply in file order; the net changes are then written with
one statement per kind of change, and the account store writes each change's
provisioning event with it, in the same transaction (``AccountSession.apply``). A batch
of CREATE rows only skips the lookup of stored accounts: the unique indexes check the
same thing, and if they refuse the batch it is planned again with the lookup. If the
database still refuses the batch (another writer got there first), the batch is
replayed row by row, each row in its own savepoint, so only the conflicting row fails.
Cells are read, trimmed and checked once per row (``_Checked``); what a service allows
is worked out once per import (``_Service``).

One module, though long: the row rules, the batch planner and the export share the
column names and the per-service rules (``_Service``) and are read together when the
format changes; the generic CSV reading and writing already live in ``reader``/``writer``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO, NamedTuple

from ...accounts import (
    SERVICE_PASSWORD_MAX,
    AccountSession,
    AccountStore,
    AccountValues,
    Integration,
    KeyRing,
    ServiceAccount,
)
from ...errors import ScimError
from .formats import OPERATIONS, SERVICE_ACCOUNTS, Operation, format_bool, unguard_formula
from .importer import (
    ImportOptions,
    ImportReport,
    Outcome,
    Progress,
    RowError,
    RowResult,
    failed,
    run_import,
    skipped,
)
from .reader import CsvRow, read_csv
from .writer import CsvWriter


def new_immutable_id() -> str:
    """A Microsoft 365 ImmutableID as Entra Connect makes them: a GUID, base64-encoded."""
    return base64.b64encode(uuid.uuid4().bytes).decode()


@dataclass
class _Slot:
    """An account as the batch sees it: stored (``row_id``) or to be inserted (None)."""

    row_id: int | None
    values: AccountValues
    user_name: str
    deleted: bool = False
    dirty: bool = False


class _Checked(NamedTuple):
    """A row that passed the checks that need no database, its cells read once.

    Every cell is trimmed and has its formula guard removed, except ``password``
    (taken as written). A named tuple, built for every row: a frozen dataclass sets
    each of its ten fields through ``object.__setattr__``, a few times slower.
    """

    row: CsvRow
    op: Operation
    service: str
    user: str
    account_id: str
    mail: str
    profile: str
    immutable_id: str
    resource_id: str
    password: str


class _Service:
    """What the rules need to know about one integration, worked out once per import."""

    __slots__ = (
        "auto_ids",
        "display_name",
        "id",
        "immutable_id",
        "integration",
        "label",
        "license_profiles",
        "mail_proxy",
        "profile_list",
        "scim_resource_id",
        "service_password",
    )

    def __init__(self, integration: Integration) -> None:
        kind = integration.service
        self.integration = integration
        self.id = integration.id
        self.display_name = integration.display_name
        self.label = kind.label
        self.mail_proxy = kind.mail_proxy
        self.license_profiles = kind.license_profiles
        self.immutable_id = kind.immutable_id
        self.scim_resource_id = kind.scim_resource_id
        self.service_password = kind.service_password
        self.profile_list = integration.settings.license_profiles
        self.auto_ids = integration.settings.scim_user_resource_id_mode == "auto"


def _clean(value: str) -> str:
    """What :func:`.importer.cell` does to a cell: trim, then remove a formula guard."""
    value = value.strip()
    return unguard_formula(value) if value.startswith("'") else value


class ServiceAccountImporter:
    """Applies a service-account CSV to one organization's accounts."""

    #: Rows per transaction. Every commit costs (on SQLite it checkpoints the WAL), and a
    #: batch is written with a few set-based statements, so large batches import
    #: fastest (``benchmarks/csv_import.py --batch-size`` compares sizes); on SQLite a
    #: batch holds the write lock while it is written, under a second at this size.
    default_batch_size = 10_000

    def __init__(
        self,
        accounts: AccountStore,
        organization_id: str,
        *,
        keyring: KeyRing | None = None,
        options: ImportOptions | None = None,
    ) -> None:
        self.accounts = accounts
        self.organization_id = organization_id
        self.keyring = keyring
        self.options = options or ImportOptions()
        self._services: dict[str, _Service] | None = None

    def run(self, data: bytes, progress: Progress | None = None) -> ImportReport:
        """Import ``data``; raises :class:`~.reader.CsvFileError` for a file-level problem."""
        file = read_csv(data, SERVICE_ACCOUNTS, max_bytes=self.options.max_bytes)
        return run_import(
            SERVICE_ACCOUNTS.kind,
            file,
            lambda: self.accounts.accounts(self.organization_id),
            self,
            self.options,
            progress,
            default_batch_size=self.default_batch_size,
        )

    # -- one batch ----------------------------------------------------------------------

    def apply_batch(self, session: AccountSession, rows: list[CsvRow]) -> list[RowResult]:
        if self._services is None:
            self._services = {i.display_name: _Service(i) for i in session.integrations()}
        # The happy path needs no savepoint of its own: ``apply`` is the batch's first
        # write and undoes itself when the database refuses it (AccountSession.apply).
        try:
            return self._apply(session, rows, optimistic=True)
        except ScimError:
            pass
        try:  # a CREATE-only batch met a stored account: plan it against them
            return self._apply(session, rows)
        except ScimError:
            pass
        results = []
        for row in rows:
            try:
                with session.savepoint():
                    results.extend(self._apply(session, [row]))
            except ScimError as exc:
                results.append(failed(row, RowError("CONFLICT", exc.detail)))
        return results

    def _apply(
        self, session: AccountSession, rows: list[CsvRow], *, optimistic: bool = False
    ) -> list[RowResult]:
        """Plan ``rows`` against the stored accounts they touch, then write the changes.

        ``optimistic``: when every row is a CREATE, assume no stored account is in the
        way and let the unique indexes check it (the batch then fails as a whole with
        :class:`~scimcore.errors.Uniqueness`, and is planned again with the lookup).
        """
        results: list[RowResult | None] = [None] * len(rows)
        checked: list[_Checked] = []
        positions: list[int] = []  # of each checked row in ``rows``
        for index, row in enumerate(rows):
            try:
                item = self._check_cells(row)
            except RowError as exc:
                results[index] = failed(row, exc)
                continue
            if item is None:
                results[index] = skipped(row)
            else:
                checked.append(item)
                positions.append(index)
        user_ids = session.user_ids({c.user for c in checked}) if checked else {}
        if optimistic and all(c.op == "CREATE" for c in checked):
            by_user: dict[tuple[int, str], _Slot] = {}
            by_account: dict[tuple[int, str], _Slot] = {}
        else:
            by_user, by_account = self._load(session, checked, user_ids)
        slots: list[_Slot] = list(by_user.values())
        for index, item in zip(positions, checked, strict=True):
            try:
                outcome = self._plan(item, user_ids, by_user, by_account, slots)
            except RowError as exc:
                results[index] = failed(item.row, exc)
                continue
            results[index] = RowResult(item.row.number, outcome)
        deletes = [s.row_id for s in slots if s.deleted and s.row_id is not None]
        updates = [
            (s.row_id, s.values)
            for s in slots
            if not s.deleted and s.dirty and s.row_id is not None
        ]
        inserts = [s.values for s in slots if not s.deleted and s.row_id is None]
        if deletes or updates or inserts:
            session.apply(deletes, updates, inserts, source="csv")
        return results  # type: ignore[return-value]  # every index was set above

    def _load(
        self,
        session: AccountSession,
        checked: list[_Checked],
        user_ids: dict[str, str],
    ) -> tuple[dict[tuple[int, str], _Slot], dict[tuple[int, str], _Slot]]:
        services = self._services or {}
        pairs_user: set[tuple[int, str]] = set()
        pairs_account: set[tuple[int, str]] = set()
        for c in checked:
            service = services.get(c.service)
            if service is None:
                continue
            pairs_account.add((service.id, c.account_id))
            uid = user_ids.get(c.user.lower())
            if uid is not None:
                pairs_user.add((service.id, uid))
        by_user: dict[tuple[int, str], _Slot] = {}
        by_account: dict[tuple[int, str], _Slot] = {}
        if not pairs_user and not pairs_account:
            return by_user, by_account
        for account in session.find_accounts(pairs_user, pairs_account):
            slot = _Slot(account.id, _values(account), "")
            if account.user_id is not None:
                by_user[(account.integration_id, account.user_id)] = slot
            by_account[(account.integration_id, account.account_id)] = slot
        return by_user, by_account

    def _check_cells(self, row: CsvRow) -> _Checked | None:
        """Checks 1-3: operation, required cells, cell formats."""
        cells = row.cells
        raw_op = cells.get("operation", "").strip()
        if not raw_op:
            return None
        if row.problem:
            raise RowError("BAD_ROW", row.problem)
        op = _OPERATIONS.get(raw_op.upper())
        if op is None:
            raise RowError(
                "INVALID_OPERATION",
                f"'{raw_op}' is not an operation; expected CREATE, UPDATE or DELETE "
                "(any case), or blank to skip the row",
                "operation",
            )
        service = _clean(cells.get("serviceDisplayName", ""))
        user = _clean(cells.get("userId", ""))
        account_id = _clean(cells.get("accountId", ""))
        if not (service and user and account_id):
            name = "serviceDisplayName" if not service else "userId" if not user else "accountId"
            raise RowError("MISSING_VALUE", f"a value is required for {op}", name)
        for column, limit in _MAX_LENGTHS.items():
            value = _clean(cells.get(column, ""))
            if len(value) > limit:
                raise RowError(
                    "TOO_LONG",
                    f"at most {limit} characters are allowed, the cell has {len(value)}",
                    column,
                )
        mail = _clean(cells.get("mailProxyActive", ""))
        password = cells.get("servicePassword", "")
        if op != "DELETE":
            if mail and mail.upper() not in _BOOLEANS:
                raise RowError(
                    "INVALID_VALUE", f"expected TRUE or FALSE, got '{mail}'", "mailProxyActive"
                )
            if len(password) > SERVICE_PASSWORD_MAX:
                raise RowError(
                    "TOO_LONG",
                    f"at most {SERVICE_PASSWORD_MAX} characters are allowed, the cell has "
                    f"{len(password)}",
                    "servicePassword",
                )
        return _Checked(
            row,
            op,
            service,
            user,
            account_id,
            mail,
            _clean(cells.get("licenseProfile", "")),
            _clean(cells.get("immutableId", "")),
            _clean(cells.get("scimUserResourceId", "")),
            password,
        )

    def _plan(
        self,
        item: _Checked,
        user_ids: dict[str, str],
        by_user: dict[tuple[int, str], _Slot],
        by_account: dict[tuple[int, str], _Slot],
        slots: list[_Slot],
    ) -> Outcome:
        """Checks 4-7 (references, immutability, uniqueness, the service's rules),
        against the batch's view of the accounts."""
        op = item.op
        service = (self._services or {}).get(item.service)
        if service is None:
            known = ", ".join(sorted(self._services or {})[:10]) or "none yet"
            raise RowError(
                "UNKNOWN_SERVICE",
                f"no service named '{item.service}' in this organization (names are "
                f"case-sensitive; services: {known})",
                "serviceDisplayName",
            )
        uid = user_ids.get(item.user.lower())
        if uid is None:
            raise RowError("UNKNOWN_USER", f"no user with userName '{item.user}'", "userId")
        key = (service.id, uid)
        slot = by_user.get(key)
        if op == "CREATE":
            if slot is not None and not slot.deleted:
                raise RowError(
                    "ALREADY_LINKED",
                    f"user '{item.user}' in '{service.display_name}' already has account "
                    f"'{slot.values.account_id}' (one account per user per service); DELETE "
                    "that link first to change it",
                    "userId",
                )
            account_key = (service.id, item.account_id)
            owner = by_account.get(account_key)
            if owner is not None and not owner.deleted:
                raise RowError(
                    "ALREADY_LINKED",
                    f"account '{item.account_id}' is already linked to another user in "
                    f"'{service.display_name}'",
                    "accountId",
                )
            new = _Slot(None, self._create_values(item, service, uid), item.user)
            slots.append(new)
            by_user[key] = new
            by_account[account_key] = new
            return "created"
        if slot is None or slot.deleted:
            raise RowError(
                "NOT_LINKED",
                f"user '{item.user}' in '{service.display_name}' has no account to "
                f"{op.lower()}; use CREATE to link one",
                "userId",
            )
        if slot.values.account_id != item.account_id:
            if op == "DELETE":
                raise RowError(
                    "NOT_LINKED",
                    f"user '{item.user}' in '{service.display_name}' is linked to account "
                    f"'{slot.values.account_id}', not '{item.account_id}'; to delete that "
                    f"link, give accountId '{slot.values.account_id}'",
                    "accountId",
                )
            raise RowError(
                "IMMUTABLE",
                f"cannot be changed once linked (linked: '{slot.values.account_id}', this "
                f"row: '{item.account_id}'); to change it, DELETE the link and CREATE a new "
                "one",
                "accountId",
            )
        if service.immutable_id and slot.values.immutable_id:
            _check_immutable_id(item, service, slot.values, op)
        if op == "DELETE":
            slot.deleted = True
            return "deleted"
        values = self._update_values(item, service, slot.values)
        if values == slot.values:
            return "unchanged"
        slot.values = values
        slot.dirty = True
        return "updated"

    def _common(self, item: _Checked, service: _Service) -> tuple[bool | None, str | None]:
        """``mailProxyActive`` and ``licenseProfile``: where they apply, and their values."""
        if item.mail and not service.mail_proxy:
            raise _not_applicable(service, "mailProxyActive")
        if item.profile and not service.license_profiles:
            raise _not_applicable(service, "licenseProfile")
        if item.immutable_id and not service.immutable_id:
            raise _not_applicable(service, "immutableId")
        if item.resource_id and not service.scim_resource_id:
            raise _not_applicable(service, "scimUserResourceId")
        if item.password and not service.service_password:
            raise _not_applicable(service, "servicePassword")
        profile = item.profile
        if profile and profile not in service.profile_list:
            defined = ", ".join(service.profile_list) or "none"
            raise RowError(
                "UNKNOWN_LICENSE_PROFILE",
                f"'{profile}' is not a license profile of '{service.display_name}' "
                f"(defined: {defined})",
                "licenseProfile",
            )
        mail = item.mail
        return (_BOOLEANS[mail.upper()] if mail else None), (profile or None)

    def _password(self, item: _Checked, service: _Service, op: str) -> str | None:
        """The encrypted ``servicePassword``; required for form-based services."""
        if not service.service_password:
            return None
        if not item.password:
            raise RowError(
                "MISSING_VALUE",
                f"required for {op} on the form-based service '{service.display_name}'",
                "servicePassword",
            )
        if self.keyring is None:
            raise RowError(
                "NO_ENCRYPTION_KEY",
                "cannot be stored: no encryption key is configured (set "
                "SCIMSERVER_SECRET_KEYS); passwords are never stored in plain text",
                "servicePassword",
            )
        return self.keyring.encrypt(item.password)

    def _create_values(self, item: _Checked, service: _Service, user_id: str) -> AccountValues:
        mail, profile = self._common(item, service)
        if item.immutable_id:
            raise RowError(
                "INVALID_VALUE",
                "is assigned by the system; leave it blank on CREATE",
                "immutableId",
            )
        # In automatic mode the service links the SCIM resource itself and the cell is
        # ignored (a row copied from an export carries the remote id there).
        resource_id = None if service.auto_ids else item.resource_id or None
        return AccountValues(
            integration_id=service.id,
            user_id=user_id,
            account_id=item.account_id,
            mail_proxy_active=mail,
            license_profile=profile,
            immutable_id=new_immutable_id() if service.immutable_id else None,
            scim_user_resource_id=resource_id,
            service_password_ciphertext=self._password(item, service, "CREATE"),
        )

    def _update_values(
        self, item: _Checked, service: _Service, current: AccountValues
    ) -> AccountValues:
        """An empty cell leaves the stored value unchanged (project decision)."""
        mail, profile = self._common(item, service)
        # In automatic mode the cell is ignored, as on CREATE.
        resource_id = "" if service.auto_ids else item.resource_id
        given, stored = resource_id, current.scim_user_resource_id
        if given and stored and given != stored:
            raise RowError(
                "IMMUTABLE",
                f"cannot be changed (stored: '{stored}', this row: '{given}')",
                "scimUserResourceId",
            )
        return replace(
            current,
            mail_proxy_active=current.mail_proxy_active if mail is None else mail,
            license_profile=profile or current.license_profile,
            scim_user_resource_id=current.scim_user_resource_id or resource_id or None,
            service_password_ciphertext=self._password(item, service, "UPDATE"),
        )


_OPERATIONS: dict[str, Operation] = {op: op for op in OPERATIONS}
#: The longest value each stored column takes, in characters: checked here, so that a
#: file is refused the same way on every database (SQLite would store a longer one;
#: PostgreSQL would refuse the whole batch). ``servicePassword`` has its own rule.
_MAX_LENGTHS = {
    "serviceDisplayName": 200,
    "accountId": 256,
    "licenseProfile": 200,
    "immutableId": 128,
    "scimUserResourceId": 256,
}
_BOOLEANS = {"TRUE": True, "FALSE": False}


def _check_immutable_id(item: _Checked, service: _Service, stored: AccountValues, op: str) -> None:
    """Microsoft 365 UPDATE and DELETE: the ``immutableId`` is required and must be the one
    the system assigned (the export carries it), so a row cannot act on the wrong link."""
    if not item.immutable_id:
        raise RowError(
            "MISSING_VALUE",
            f"required for {op} on '{service.display_name}': give the value the system "
            f"assigned to this account ('{stored.immutable_id}', as exported)",
            "immutableId",
        )
    if item.immutable_id != stored.immutable_id:
        raise RowError(
            "IMMUTABLE",
            f"does not match this account's (stored: '{stored.immutable_id}', this row: "
            f"'{item.immutable_id}'); it is assigned by the system and cannot be changed",
            "immutableId",
        )


def _not_applicable(service: _Service, column: str) -> RowError:
    return RowError(
        "NOT_APPLICABLE",
        f"does not apply to '{service.display_name}' ({service.label}); leave it blank",
        column,
    )


def _values(account: ServiceAccount) -> AccountValues:
    return AccountValues(
        integration_id=account.integration_id,
        user_id=account.user_id or "",
        account_id=account.account_id,
        mail_proxy_active=account.mail_proxy_active,
        license_profile=account.license_profile,
        immutable_id=account.immutable_id,
        scim_user_resource_id=account.scim_user_resource_id,
        link_method=account.link_method or "csv",
    )


def export_service_accounts(
    accounts: AccountStore,
    organization_id: str,
    out: BinaryIO,
    *,
    bom: bool = False,
    formula_guard: bool = True,
) -> int:
    """Stream every linked account as a service-account CSV; returns the row count.

    ``operation`` and ``servicePassword`` are always blank, so the file can be edited
    and imported again.
    """
    count = 0
    with (
        accounts.accounts(organization_id, readonly=True) as session,
        CsvWriter(out, bom=bom, formula_guard=formula_guard) as writer,
    ):
        writer.writerow(SERVICE_ACCOUNTS.names)
        for cells in _export_rows(session):
            writer.writerow(cells)
            count += 1
    return count


def _export_rows(session: AccountSession) -> Iterator[list[str]]:
    for listing in session.iter_accounts():
        a = listing.account
        if a.user_id is None or listing.user_name is None:
            continue  # an unlinked remote account has no row in this format
        yield [
            "",
            listing.service_display_name,
            listing.user_name,
            a.account_id,
            a.last_access_time.strftime("%Y-%m-%dT%H:%M:%SZ") if a.last_access_time else "",
            format_bool(a.mail_proxy_active),
            a.license_profile or "",
            a.immutable_id or "",
            a.scim_user_resource_id or "",
            "",
        ]
