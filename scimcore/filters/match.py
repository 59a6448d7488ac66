"""In-memory evaluation of a parsed filter against one resource (RFC 7644 3.4.2.2).

:func:`matches` is the reference semantics of filtering: the SQL compiler is
property-tested against it, so every rule is stated here precisely. ``resource`` is
the stored JSON representation of a resource (canonical attribute names, extension
attributes nested under their schema URN key, RFC 7643 3.3).

**Looking up a path.** The keys of ``ResolvedPath.keys`` are followed from the
resource root; each key is looked up exactly, then case-insensitively (RFC 7643 2.1:
attribute names are case-insensitive). A list met on the way is flattened: each
element is looked into (``emails.value`` on ``{"emails": [{"value": "a"},
{"value": "b"}]}`` yields ``["a", "b"]``), and a single dict where a list is
expected is one element. ``null`` (``None``) values and missing keys yield nothing.
The result is the list of *candidate values* of the path.

**Compare** ``path op value`` (``op`` is not ``ne``): true iff at least one candidate
satisfies the operator (RFC 7644 3.4.2.2: "If the specified attribute in a filter
expression is a multi-valued attribute, the filter matches if any of the values of
the specified attribute match the specified criteria"). No candidates: false.
A candidate of the wrong JSON type for the attribute never satisfies an operator.
By attribute type (of ``path.definition``):

* string, reference, binary: both sides must be ``str``. Unless the definition is
  ``caseExact`` both are lowered with Python ``str.lower()`` (RFC 7643 2.3.1,
  caseExact false means case-insensitive). ``eq`` equality, ``co`` substring,
  ``sw`` prefix, ``ew`` suffix (an empty operand matches any string), ``gt ge lt le``
  compare the (lowered) strings by Unicode code point order.
* boolean: both sides ``bool``; ``eq`` only (a resource holding the string
  ``"true"`` does not match ``true``). Every other operator is false.
* integer, decimal: both sides numbers (``int``/``float``, not ``bool``), compared
  mathematically (``1 eq 1.0``); ``co sw ew`` are false.
* dateTime: both sides are parsed to instants (:func:`datetime.fromisoformat`; a
  naive value is taken as UTC; a ``datetime`` object is accepted as is) and compared
  chronologically. A side that does not parse never matches. ``co sw ew`` are false.
* complex (no sub-attribute; the parser produces this only with ``null``, below):
  false.

**ne** is exactly ``not (eq)`` on the same path and value: an absent attribute is
``ne "x"``, and a multi-valued one is ``ne "x"`` iff *no* candidate ``eq "x"``.

**null.** ``eq null`` is exactly ``not pr`` and ``ne null`` exactly ``pr`` on the same
path; any other operator with ``null`` is false (the parser rejects it). The parser
resolves ``emails eq null`` like ``emails pr``, to the complex attribute itself.

**Present** ``path pr``: true iff some candidate is non-empty: not ``None``, not
``""``, not ``[]`` and not ``{}`` (``false`` and ``0`` are present). For a complex
attribute without sub-attribute (``emails pr``, ``name pr``) the candidates are the
element dicts, so ``emails pr`` holds when some email element is not ``{}``.

**ValuePath** ``attr[filter]``: the candidates of ``attr`` that are dicts are its
elements; true iff at least one element satisfies ``filter`` evaluated against
that element alone (RFC 7644 3.4.2.2: expressions "MUST be applied to the same value
of a parent attribute"). Inner paths are absolute (``emails.type``); the outer
path's keys are stripped and the rest is looked up in the element (compared
case-insensitively). An inner path that does not start with the outer path is
looked up from the resource root. ``not`` and ``ne`` inside are evaluated per
element, so ``emails[not (type eq "work")]`` needs an element that is not work.

**And / Or / Not** are ordinary two-valued boolean logic; there is no SQL-style
unknown: every comparison above is either true or false.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..paths import ResolvedPath
from ..schema.attributes import Attribute, AttributeType
from .nodes import And, Compare, Filter, Not, Or, Present, Value, ValuePath

__all__ = ["matches"]

_STRINGY = (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY)
_NUMERIC = (AttributeType.INTEGER, AttributeType.DECIMAL)


@dataclass(frozen=True)
class _Context:
    """Where paths are looked up: the resource, or one element inside a value path."""

    root: Mapping[str, Any]
    element: Mapping[str, Any] | None = None
    prefix: tuple[str, ...] = ()  # lowered keys of the value path's attribute


def matches(f: Filter, resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` satisfies ``f``, by the rules in the module docstring."""
    return _eval(f, _Context(resource))


def _eval(f: Filter, ctx: _Context) -> bool:
    if isinstance(f, And):
        return _eval(f.left, ctx) and _eval(f.right, ctx)
    if isinstance(f, Or):
        return _eval(f.left, ctx) or _eval(f.right, ctx)
    if isinstance(f, Not):
        return not _eval(f.expr, ctx)
    if isinstance(f, Present):
        return any(_non_empty(v) for v in _lookup(ctx, f.path))
    if isinstance(f, Compare):
        return _eval_compare(f, _lookup(ctx, f.path))
    if isinstance(f, ValuePath):
        prefix = tuple(k.lower() for k in f.path.keys)
        return any(
            _eval(f.filter, _Context(ctx.root, element, prefix))
            for element in _lookup(ctx, f.path)
            if isinstance(element, Mapping)
        )
    raise TypeError(f"not a filter node: {f!r}")  # pragma: no cover - exhaustive above


def _eval_compare(f: Compare, candidates: list[Any]) -> bool:
    if f.value is None:
        absent = not any(_non_empty(v) for v in candidates)
        if f.op == "eq":
            return absent
        return not absent if f.op == "ne" else False
    if f.op == "ne":
        return not any(_satisfies(f.path.definition, "eq", c, f.value) for c in candidates)
    return any(_satisfies(f.path.definition, f.op, c, f.value) for c in candidates)


def _lookup(ctx: _Context, path: ResolvedPath) -> list[Any]:
    keys = path.keys
    n = len(ctx.prefix)
    if (
        ctx.element is not None
        and len(keys) > n
        and tuple(k.lower() for k in keys[:n]) == ctx.prefix
    ):
        return _walk(ctx.element, keys[n:])
    return _walk(ctx.root, keys)


def _walk(node: Mapping[str, Any], keys: Iterable[str]) -> list[Any]:
    current: list[Any] = [node]
    for key in keys:
        found: list[Any] = []
        for item in current:
            if not isinstance(item, Mapping):
                continue
            value = _get(item, key)
            if isinstance(value, list | tuple):
                found.extend(v for v in value if v is not None)
            elif value is not None:
                found.append(value)
        current = found
    return current


def _get(item: Mapping[str, Any], key: str) -> Any:
    if key in item:
        return item[key]
    lowered = key.lower()
    for k, v in item.items():
        if isinstance(k, str) and k.lower() == lowered:
            return v
    return None


def _non_empty(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _satisfies(definition: Attribute, op: str, candidate: Any, value: Value) -> bool:
    """Whether one candidate value satisfies ``candidate op value`` (op is not ``ne``)."""
    kind = definition.type
    if kind in _STRINGY:
        if not isinstance(candidate, str) or not isinstance(value, str):
            return False
        if not definition.case_exact:
            candidate, value = candidate.lower(), value.lower()
        return _ordered(op, candidate, value) or _substring(op, candidate, value)
    if kind is AttributeType.BOOLEAN:
        return (
            op == "eq"
            and isinstance(candidate, bool)
            and isinstance(value, bool)
            and candidate is value
        )
    if kind in _NUMERIC:
        if not _is_number(candidate) or not _is_number(value):
            return False
        return _ordered(op, candidate, value)
    if kind is AttributeType.DATETIME:
        left, right = _instant(candidate), _instant(value)
        if left is None or right is None:
            return False
        try:
            return _ordered(op, left, right)
        except OverflowError:  # an offset pushing a year-1 or year-9999 instant out of range
            return False
    return False


def _ordered(op: str, left: Any, right: Any) -> bool:
    """``eq gt ge lt le`` on two values of one comparable type; false for other ops."""
    if op == "eq":
        return bool(left == right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    return False


def _substring(op: str, candidate: str, value: str) -> bool:
    if op == "co":
        return value in candidate
    if op == "sw":
        return candidate.startswith(value)
    if op == "ew":
        return candidate.endswith(value)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _instant(value: Any) -> datetime | None:
    """A resource- or filter-side dateTime as an aware datetime; ``None`` if unparseable."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
