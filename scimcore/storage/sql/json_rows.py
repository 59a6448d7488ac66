"""Many rows in one statement: the rows travel as one JSON array parameter.

``INSERT ... SELECT`` from ``json_each(:rows)`` (SQLite) or
``jsonb_array_elements(:rows)`` (PostgreSQL) writes a whole batch with one statement
and one parameter, which the database unpacks in C. An ``executemany`` of the same
rows ran SQLAlchemy's per-row, per-column bind processing in Python (and, on
PostgreSQL, one server-side execution per row): at 100,000 service accounts and their
events that was more time than the database spent writing them. Each row is a JSON
array whose elements are read by position (:func:`element`); rows are written in array
order, so ids (and event order) follow the order of the rows.

Values that are the same for every row (the organization, the timestamp) are ordinary
bound parameters, so SQLAlchemy's types still format them (``UTCDateTime`` on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa

#: How an element of a row is read: as text, a bigint, a boolean or a JSON document.
Kind: TypeAlias = Literal["text", "int", "bool", "json"]
#: The parameter holding the rows.
ROWS = "rows"

_PG_CASTS: dict[Kind, str] = {"int": "bigint", "bool": "boolean"}


def insert_select(table: sa.Table, dialect: str, values: Mapping[str, str]) -> sa.TextClause:
    """``INSERT INTO table`` one row per element of the ``:rows`` array, in array order.

    ``values``: each column and the SQL giving its value, an :func:`element` of the
    row, a bound parameter such as ``:org`` or any expression of those.
    """
    unknown = [name for name in values if name not in table.c]
    assert not unknown, unknown
    return sa.text(
        f"INSERT INTO {table.name} ({', '.join(values)}) "
        f"SELECT {', '.join(values.values())} FROM {_source(dialect)}"
    )


def _source(dialect: str) -> str:
    if dialect == "postgresql":
        return (
            f"jsonb_array_elements(CAST(:{ROWS} AS jsonb)) WITH ORDINALITY AS e(value, n) "
            "ORDER BY e.n"
        )
    return f"json_each(:{ROWS}) AS e ORDER BY e.key"


def element(dialect: str, position: int, kind: Kind) -> str:
    """SQL reading element ``position`` of the current row as ``kind``."""
    if dialect == "postgresql":
        if kind == "json":
            return f"(e.value -> {position})"
        cast = _PG_CASTS.get(kind)
        text = f"(e.value ->> {position})"
        return f"CAST({text} AS {cast})" if cast else text
    # SQLite: numbers, booleans (1/0) and strings come back as SQL values, and an
    # object as its JSON text, which is how the JSON column stores it.
    return f"json_extract(e.value, '$[{position}]')"


def json_object(dialect: str, pairs: Mapping[str, str]) -> str:
    """SQL building a JSON object from ``{key: SQL value}`` (NULL becomes ``null``)."""
    function = "jsonb_build_object" if dialect == "postgresql" else "json_object"
    arguments = ", ".join(f"'{key}', {value}" for key, value in pairs.items())
    return f"{function}({arguments})"


def json_array(dialect: str, items: Sequence[str]) -> str:
    """SQL building a JSON array of the SQL values ``items``."""
    function = "jsonb_build_array" if dialect == "postgresql" else "json_array"
    return f"{function}({', '.join(items)})"


def dump_rows(rows: Sequence[Sequence[Any]]) -> str:
    """The ``:rows`` parameter. Raw UTF-8 rather than ``\\u`` escapes: smaller, and what
    the columns store."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
