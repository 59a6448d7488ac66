"""The CSV formats: their columns, which operations need them, and cell rules.

Two formats (docs/csv.md): the CloudGate UNO service-account CSV, and a user
CSV for onboarding a directory without an IdP. Header names and ``operation`` values
are case-insensitive; booleans are ``TRUE``/``FALSE`` in any case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Operation: TypeAlias = Literal["CREATE", "UPDATE", "DELETE"]
OPERATIONS: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE")
ALL_OPERATIONS: frozenset[Operation] = frozenset(OPERATIONS)

#: Cells starting with one of these are read as formulas by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column. ``required``: operations whose rows need this column in the header."""

    name: str
    required: frozenset[Operation] = frozenset()
    secret: bool = False
    #: Written on export, ignored on import (e.g. ``lastAccessTime``).
    export_only: bool = False


@dataclass(frozen=True)
class CsvFormat:
    kind: str
    label: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, header_name: str) -> Column | None:
        """The column a header cell names, compared case-insensitively."""
        key = header_name.strip().lower()
        for column in self.columns:
            if column.name.lower() == key:
                return column
        return None


SERVICE_ACCOUNTS = CsvFormat(
    "service-accounts",
    "service-account",
    (
        Column("operation", ALL_OPERATIONS),
        Column("serviceDisplayName", ALL_OPERATIONS),
        Column("userId", ALL_OPERATIONS),
        Column("accountId", ALL_OPERATIONS),
        Column("lastAccessTime", export_only=True),
        Column("mailProxyActive"),
        Column("licenseProfile"),
        Column("immutableId"),
        Column("scimUserResourceId"),
        Column("servicePassword", secret=True),
    ),
)

USERS = CsvFormat(
    "users",
    "user",
    (
        Column("operation", ALL_OPERATIONS),
        Column("userName", ALL_OPERATIONS),
        Column("externalId"),
        Column("lastName"),
        Column("firstName"),
        Column("middleName"),
        Column("displayName"),
        Column("nickName"),
        Column("title"),
        Column("emails"),
        Column("active"),
        Column("employeeNumber"),
        Column("costCenter"),
        Column("organization"),
        Column("division"),
        Column("department"),
        Column("manager"),
        Column("password", secret=True),
    ),
)

FORMATS = {f.kind: f for f in (SERVICE_ACCOUNTS, USERS)}


def parse_operation(cell: str) -> Operation | None:
    """``CREATE``/``UPDATE``/``DELETE`` in any case; ``None`` for anything else."""
    value = cell.strip().upper()
    for op in OPERATIONS:
        if value == op:
            return op
    return None


def parse_bool(cell: str) -> bool | None:
    """``TRUE``/``FALSE`` in any case; ``None`` for anything else."""
    value = cell.strip().upper()
    return True if value == "TRUE" else False if value == "FALSE" else None


def format_bool(value: bool | None) -> str:
    return "" if value is None else "TRUE" if value else "FALSE"


def guard_formula(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def unguard_formula(value: str) -> str:
    """Undo :func:`guard_formula`, so an export can be edited and imported again."""
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
