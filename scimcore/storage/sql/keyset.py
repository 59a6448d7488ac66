"""Keyset paging in SQL: the conditions that select the rows after a cursor's position
as index ranges, and the sort key as a cursor carries it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from ...schema.attributes import AttributeType
from ..base import Keyset, Sort


def unindexed(expr: Any) -> Any:
    """SQLite's ``+expr``: the same value and collation, which no index orders."""
    return UnaryExpression(expr, operator=operators.custom_op("+"), type_=expr.type)


def sort_key(value: Any, sort: Sort | None) -> Any:
    """A row's sort key as a cursor carries it: a boolean as a boolean on both databases
    (SQLite's json_extract gives 0 or 1), so the service can check a cursor's key."""
    if (
        sort is not None
        and sort.path.definition.type is AttributeType.BOOLEAN
        and isinstance(value, int)
    ):
        return bool(value)
    return value


def rows_after(key: Any, id_column: Any, position: Keyset, sort: Sort | None) -> list[Any]:
    """SQL for :func:`scimcore.storage.base.comes_after`: the rows after ``position``,
    as disjoint parts in listing order, each a range of the sort key's index.

    The single condition ``key IS NULL OR key > k OR (key = k AND id > i)`` is no
    index range: PostgreSQL walked the index from its start to reach a page deep into
    a million users. A row comparison ``(key, id) > (k, i)`` is one (on SQLite
    too), and the NULL keys, which sort after every other ascending and before
    descending, are a part of their own, read only when the page is not yet full.
    Descending keys with ascending ids are no row comparison: ``key = k AND id > i``,
    then ``key < k``.
    """
    later_id = id_column > position.id
    if sort is None or key is None:
        return [later_id]
    if sort.descending:
        if position.key is None:
            return [sa.and_(key.is_(None), later_id), key.is_not(None)]
        # A bound value, not a literal: SQLAlchemy refuses '<' with True and False.
        at: Any = sa.bindparam(None, position.key)
        return [sa.and_(key == at, later_id), key < at]
    if position.key is None:
        return [sa.and_(key.is_(None), later_id)]
    later = sa.tuple_(key, id_column) > sa.tuple_(position.key, position.id)
    # A NOT NULL column (created) needs no NULL part: SQLite would test IS NULL on every
    # row of the organization rather than read it from the index.
    return [later, key.is_(None)] if getattr(key, "nullable", True) else [later]
