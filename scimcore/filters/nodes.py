"""The filter syntax tree (RFC 7644 3.4.2.2), as frozen dataclasses.

Paths in the tree are already resolved against a resource type (see
:mod:`scimcore.paths`), so every consumer sees canonical attribute names and their
definitions (type, caseExact, multiValued). Inside a :class:`ValuePath`, the inner
filter's paths are absolute too (``emails.type``), and are evaluated against one
element of the multi-valued attribute at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..paths import ResolvedPath

CompareOp: TypeAlias = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
COMPARE_OPS: tuple[CompareOp, ...] = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")

#: A comparison value as JSON gives it: string, number, boolean or null.
Value: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class Compare:
    """``path op value``; for dateTime attributes ``value`` is a string in RFC 3339 form."""

    path: ResolvedPath
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Present:
    """``path pr``: the attribute has a non-empty, non-null value."""

    path: ResolvedPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    expr: Filter


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: at least one element of the multi-valued ``attr`` matches."""

    path: ResolvedPath
    filter: Filter


Filter: TypeAlias = Compare | Present | And | Or | Not | ValuePath


def comparisons(node: Filter) -> int:
    """How many comparisons (``Compare`` and ``Present``) ``node`` holds: what testing one
    resource or element against it costs, at most."""
    stack: list[Filter] = [node]
    count = 0
    while stack:
        item = stack.pop()
        if isinstance(item, Compare | Present):
            count += 1
        elif isinstance(item, And | Or):
            stack += (item.left, item.right)
        elif isinstance(item, Not):
            stack.append(item.expr)
        else:
            stack.append(item.filter)
    return count
