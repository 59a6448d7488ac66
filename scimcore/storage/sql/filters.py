"""Compile filter trees (:mod:`scimcore.filters.nodes`) to SQL for SQLite and PostgreSQL.

The result must select exactly the resources :func:`scimcore.filters.matches` accepts
(the property test in ``tests/storage`` checks it), so:

* **Case.** Case-insensitive comparisons run against the ``folded`` document (every
  string lowered by Python when the resource was written) with the value lowered by
  Python, never by the database's ``lower()``, whose idea of Unicode depends on its
  locale. String order is code point order: ``COLLATE "C"`` on PostgreSQL, SQLite's
  default ``BINARY`` comparison.
* **Types.** A stored value only compares when its JSON type fits the attribute
  type (a stored ``"5"`` is not the number 5); extraction yields NULL otherwise.
* **Two-valued logic.** Comparisons may yield NULL (absent attribute). NULL behaves
  like false under ``AND``/``OR`` in a ``WHERE``; only ``NOT`` would turn NULL into
  NULL instead of true, so every ``NOT`` wraps its operand in ``COALESCE(x, false)``.
  Leaves are not wrapped, so index-backed predicates stay sargable.
* **Multi-valued attributes** become ``EXISTS`` over ``json_each`` /
  ``jsonb_array_elements``; ``ne`` is ``NOT (eq)`` so it holds iff *no* element equals.
* **Routing.** Comparisons on ``id``, ``externalId``, ``userName`` (Users),
  ``displayName`` (Groups; for Users its lowered twin ``display_key``), ``active``,
  ``meta.created``/``lastModified``/``version`` use real, indexed columns;
  ``emails.value eq`` and ``sw`` probe ``resource_emails``; ``members`` (Groups) and
  ``groups`` (Users) are evaluated over ``group_members``.
* **Prefixes.** ``sw`` on a column is the range ``v <= x < v'`` (``v'``: ``v`` with its
  last character incremented), which selects exactly the strings starting with ``v``
  in code point order and which the ``*_order`` indexes serve; ``co``/``ew`` stay
  ``LIKE`` (no B-tree index helps a substring).

Values are always bound parameters; JSON paths are built from schema attribute
names only (never from filter values) and are bound too.

One module, though long: one compiler from the filter grammar (RFC 7644 3.4.2.2) to
SQL, case by case (attribute types, operators, multi-valued and complex attributes,
both dialects); split, a reader would hop between files for one operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from ...errors import InvalidPath
from ...filters.nodes import And, Compare, Filter, Not, Or, Present, ValuePath
from ...paths import ResolvedPath
from ...schema.attributes import Attribute, AttributeType
from .tables import group_members, resource_emails, resources

Expr = ColumnElement[Any]
_STRINGY = (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY)
_NUMERIC = (AttributeType.INTEGER, AttributeType.DECIMAL)
_ORDERING = ("eq", "gt", "ge", "lt", "le")
_LIKE_ESCAPE = "/"


def like_escape(value: str) -> str:
    """``value`` with the LIKE wildcards and the escape character escaped."""
    e = _LIKE_ESCAPE
    return value.replace(e, e + e).replace("%", e + "%").replace("_", e + "_")


def _false() -> Expr:
    return sa.false()


def _not(expr: Expr) -> Expr:
    """Two-valued NOT: NULL (unknown) counts as false, so its negation is true."""
    return sa.not_(sa.func.coalesce(expr, sa.false()))


class _Operand:
    """One value a comparison looks at, in both its stored and its lowered form."""

    def text(self, folded: bool) -> Expr | None:
        return None

    def number(self) -> Expr | None:
        return None

    def bool_eq(self, value: bool) -> Expr:
        return _false()

    def boolean(self) -> Expr | None:
        return None

    def present(self) -> Expr:
        return _false()


class _Row(_Operand):
    """A membership row itself: present (the row exists), equal to no scalar."""

    def present(self) -> Expr:
        return sa.true()


class _Json(_Operand):
    """A value inside the ``data``/``folded`` documents (``ops`` knows the dialect)."""

    def __init__(self, ops: _JsonOps, data: Any, folded: Any) -> None:
        self.ops, self.data, self.folded = ops, data, folded

    def text(self, folded: bool) -> Expr:
        return self.ops.text(self.folded if folded else self.data)

    def number(self) -> Expr:
        return self.ops.number(self.data)

    def bool_eq(self, value: bool) -> Expr:
        return self.ops.bool_eq(self.data, value)

    def boolean(self) -> Expr:
        return self.ops.boolean(self.data)

    def present(self) -> Expr:
        return self.ops.present(self.data)


class _Column(_Operand):
    """A value held in a real column (``folded`` is its Python-lowered twin, if any)."""

    def __init__(
        self,
        exact: Expr,
        folded: Expr | None = None,
        *,
        kind: str = "text",
        lower: Callable[[Expr], Expr] | None = None,
    ) -> None:
        self.exact, self.folded, self.kind, self.lower = exact, folded, kind, lower

    def text(self, folded: bool) -> Expr | None:
        if self.kind != "text":
            return None
        if not folded:
            return self.exact
        if self.folded is not None:
            return self.folded
        return self.lower(self.exact) if self.lower else None

    def bool_eq(self, value: bool) -> Expr:
        if self.kind != "bool":
            return _false()
        return self.exact.is_(sa.true() if value else sa.false())

    def boolean(self) -> Expr | None:
        return self.exact if self.kind == "bool" else None

    def present(self) -> Expr:
        if self.kind == "bool":
            return self.exact.is_not(None)
        return sa.and_(self.exact.is_not(None), self.exact != "")


class _FoldedKey(_Operand):
    """A JSON value whose lowered form also lives in a column (a User's displayName and
    ``display_key``): case-insensitive text reads the column, everything else the JSON."""

    def __init__(self, json: _Json, folded: Expr) -> None:
        self.json, self.folded = json, folded

    def text(self, folded: bool) -> Expr | None:
        return self.folded if folded else self.json.text(False)

    def number(self) -> Expr | None:
        return self.json.number()

    def bool_eq(self, value: bool) -> Expr:
        return self.json.bool_eq(value)

    def boolean(self) -> Expr | None:
        return self.json.boolean()

    def present(self) -> Expr:
        return self.json.present()


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (code point
    order), or None when there is none (``prefix`` empty or all U+10FFFF)."""
    kept = prefix.rstrip(chr(0x10FFFF))
    if not kept:
        return None
    last = ord(kept[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are never stored: skip them
        last = 0xE000
    return kept[:-1] + chr(last)


class _JsonOps:
    """JSON access for one dialect; a *handle* names one JSON value."""

    def at(self, doc: Any, keys: tuple[str, ...]) -> Any:
        raise NotImplementedError

    def sub(self, handle: Any, keys: tuple[str, ...]) -> Any:
        raise NotImplementedError

    def text(self, h: Any) -> Expr:
        raise NotImplementedError

    def number(self, h: Any) -> Expr:
        raise NotImplementedError

    def bool_eq(self, h: Any, value: bool) -> Expr:
        raise NotImplementedError

    def boolean(self, h: Any) -> Expr:
        raise NotImplementedError

    def present(self, h: Any) -> Expr:
        raise NotImplementedError

    def is_object(self, h: Any) -> Expr:
        raise NotImplementedError

    def elements(self, name: str, keys: tuple[str, ...]) -> tuple[Any, Any, Any, Expr]:
        """(FROM item, data handle, folded handle, position) for each array element."""
        raise NotImplementedError


def _json_path(keys: tuple[str, ...]) -> str:
    for key in keys:
        if '"' in key:
            raise InvalidPath(f"'{key}' cannot be used as an attribute name.")
    return "".join(f'."{k}"' for k in keys)


class _SqliteJson(_JsonOps):
    """Handles are ``(document, path)``; the path is a string or an SQL expression."""

    def at(self, doc: Any, keys: tuple[str, ...]) -> Any:
        return (doc, "$" + _json_path(keys))

    def sub(self, handle: Any, keys: tuple[str, ...]) -> Any:
        doc, path = handle
        if not keys:
            return handle
        if isinstance(path, str):
            return (doc, path + _json_path(keys))
        return (doc, path.concat(sa.literal(_json_path(keys))))

    @staticmethod
    def _p(path: Any) -> Any:
        return sa.literal(path) if isinstance(path, str) else path

    def _type(self, h: Any) -> Expr:
        return sa.func.json_type(h[0], self._p(h[1]))

    def _value(self, h: Any) -> Expr:
        return sa.func.json_extract(h[0], self._p(h[1]))

    def text(self, h: Any) -> Expr:
        return sa.case((self._type(h) == "text", self._value(h)))

    def number(self, h: Any) -> Expr:
        return sa.case((self._type(h).in_(["integer", "real"]), self._value(h)))

    def bool_eq(self, h: Any, value: bool) -> Expr:
        return self._type(h) == ("true" if value else "false")

    def boolean(self, h: Any) -> Expr:
        t = self._type(h)
        return sa.case((t == "true", 1), (t == "false", 0))

    def present(self, h: Any) -> Expr:
        t = self._type(h)
        return sa.case(
            (t == "text", self._value(h) != ""),
            (t == "array", sa.func.json_array_length(h[0], self._p(h[1])) > 0),
            (t == "object", self._value(h) != "{}"),
            (t.in_(["integer", "real", "true", "false"]), sa.true()),
            else_=sa.false(),
        )

    def is_object(self, h: Any) -> Expr:
        return self._type(h) == "object"

    def elements(self, name: str, keys: tuple[str, ...]) -> tuple[Any, Any, Any, Expr]:
        path = "$" + _json_path(keys)
        je = sa.func.json_each(resources.c.data, sa.literal(path)).table_valued(
            "key", "fullkey", name=name
        )
        return je, (resources.c.data, je.c.fullkey), (resources.c.folded, je.c.fullkey), je.c.key


class _PgJson(_JsonOps):
    """Handles are ``jsonb`` expressions."""

    @staticmethod
    def _keys(keys: tuple[str, ...]) -> Expr:
        return sa.literal(list(keys), type_=ARRAY(sa.Text()))

    def at(self, doc: Any, keys: tuple[str, ...]) -> Any:
        return doc.op("#>", return_type=JSONB())(self._keys(keys)) if keys else doc

    def sub(self, handle: Any, keys: tuple[str, ...]) -> Any:
        return self.at(handle, keys)

    def _scalar(self, h: Any) -> Expr:
        scalar: Expr = h.op("#>>", return_type=sa.Text())(self._keys(()))
        return scalar

    def text(self, h: Any) -> Expr:
        return sa.case((sa.func.jsonb_typeof(h) == "string", self._scalar(h)))

    def number(self, h: Any) -> Expr:
        return sa.case(
            (sa.func.jsonb_typeof(h) == "number", sa.cast(self._scalar(h), sa.Numeric()))
        )

    def bool_eq(self, h: Any, value: bool) -> Expr:
        return sa.and_(
            sa.func.jsonb_typeof(h) == "boolean", self._scalar(h) == ("true" if value else "false")
        )

    def boolean(self, h: Any) -> Expr:
        return sa.case((sa.func.jsonb_typeof(h) == "boolean", self._scalar(h) == "true"))

    def present(self, h: Any) -> Expr:
        t = sa.func.jsonb_typeof(h)
        return sa.case(
            (t == "string", self._scalar(h) != ""),
            (t == "array", sa.func.jsonb_array_length(h) > 0),
            (t == "object", self._scalar(h) != "{}"),
            (t.in_(["number", "boolean"]), sa.true()),
            else_=sa.false(),
        )

    def is_object(self, h: Any) -> Expr:
        return sa.func.jsonb_typeof(h) == "object"

    def elements(self, name: str, keys: tuple[str, ...]) -> tuple[Any, Any, Any, Expr]:
        arr = self.at(resources.c.data, keys)
        guarded = sa.case(
            (sa.func.jsonb_typeof(arr) == "array", arr),
            else_=sa.cast(sa.literal("[]"), JSONB()),
        )
        je = (
            sa.func.jsonb_array_elements(guarded)
            .table_valued("value", with_ordinality="ord")
            .render_derived(name=name)
        )
        folded = self.at(resources.c.folded, keys).op("->", return_type=JSONB())(
            sa.cast(je.c.ord - 1, sa.Integer())
        )
        return je, je.c.value, folded, je.c.ord


@dataclass(frozen=True)
class _Elements:
    """The element of a multi-valued attribute that an ``EXISTS`` subquery iterates."""

    prefix: tuple[str, ...]
    operand: Callable[[tuple[str, ...]], _Operand]


class FilterCompiler:
    """Compiles filters and sort keys for one dialect, organization and resource type.

    Expressions refer to :data:`~.tables.resources` (unaliased), which the caller
    selects from.
    """

    def __init__(self, dialect: str, organization_id: str, resource_type: str) -> None:
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        self.ops: _JsonOps = _PgJson() if self.pg else _SqliteJson()
        self.org = organization_id
        self.rt = resource_type
        self._names = itertools.count()

    # -- public -------------------------------------------------------------------------

    def where(self, f: Filter) -> Expr:
        """A WHERE clause true exactly for the resources ``f`` matches."""
        return self._node(f, None)

    def sort_key(self, path: ResolvedPath) -> Expr | None:
        """The ORDER BY key for ``path`` (NULL when absent), or None if it has none."""
        d = path.definition
        operand = self._route(path)
        if operand is None and self._relation(path) is not None:
            return None
        if operand is None and path.attribute.multi_valued:
            return self._primary_element_key(path)
        if operand is None:
            r = resources.c
            operand = _Json(
                self.ops, self.ops.at(r.data, path.keys), self.ops.at(r.folded, path.keys)
            )
        return self._typed(operand, d)

    def reads_key_ranges(self, f: Filter) -> bool:
        """Whether ``f`` is made only of ``sw`` on the indexed name keys (``userName``,
        ``displayName``) joined by ``and`` / ``or``: its matches are read from a few
        index ranges, so counting them costs about as many rows as there are matches,
        however big the collection. (The console's plain-word search is one.)"""
        if isinstance(f, And | Or):
            return self.reads_key_ranges(f.left) and self.reads_key_ranges(f.right)
        if not isinstance(f, Compare) or f.op != "sw" or not isinstance(f.value, str):
            return False
        if f.path.definition.case_exact:
            return False
        operand = self._route(f.path)
        if not isinstance(operand, _Column | _FoldedKey):
            return False
        key = operand.text(True)
        return any(key is column for column in (resources.c.name_key, resources.c.display_key))

    # -- nodes --------------------------------------------------------------------------

    def _node(self, f: Filter, ctx: _Elements | None) -> Expr:
        if isinstance(f, And):
            return sa.and_(self._node(f.left, ctx), self._node(f.right, ctx))
        if isinstance(f, Or):
            return sa.or_(self._node(f.left, ctx), self._node(f.right, ctx))
        if isinstance(f, Not):
            return _not(self._node(f.expr, ctx))
        if isinstance(f, Present):
            return self._leaf(f.path, ctx, lambda o: o.present())
        if isinstance(f, Compare):
            if f.value is None:
                if f.op == "eq":
                    return _not(self._leaf(f.path, ctx, lambda o: o.present()))
                if f.op == "ne":
                    return self._leaf(f.path, ctx, lambda o: o.present())
                return _false()
            if f.op == "ne":
                return _not(self._node(Compare(f.path, "eq", f.value), ctx))
            if ctx is None and self._is_email_probe(f):
                return self._email_probe(str(f.value), f.op)
            return self._leaf(f.path, ctx, lambda o: self._compare(o, f))
        if isinstance(f, ValuePath):
            return self._value_path(f)
        raise TypeError(f"not a filter node: {f!r}")  # pragma: no cover

    def _value_path(self, f: ValuePath) -> Expr:
        if (
            isinstance(f.filter, Compare)
            and self._is_email_probe(f.filter)
            and self._same_attr(f.path, f.filter.path)
        ):
            return self._email_probe(str(f.filter.value), f.filter.op)
        relation = self._relation(f.path)
        if relation is not None:
            return relation(lambda elems: self._node(f.filter, elems))
        if not f.path.attribute.multi_valued:
            # A single complex value is its only element (``name[givenName eq "x"]``).
            r, keys, ops = resources.c, f.path.keys, self.ops
            data, folded = ops.at(r.data, keys), ops.at(r.folded, keys)

            def operand(rest: tuple[str, ...]) -> _Operand:
                return _Json(ops, ops.sub(data, rest), ops.sub(folded, rest))

            prefix = tuple(k.lower() for k in keys)
            return sa.and_(ops.is_object(data), self._node(f.filter, _Elements(prefix, operand)))
        return self._json_exists(
            f.path, lambda elems: self._node(f.filter, elems), objects_only=True
        )

    def _leaf(
        self, path: ResolvedPath, ctx: _Elements | None, pred: Callable[[_Operand], Expr]
    ) -> Expr:
        keys = path.keys
        if ctx is not None:
            n = len(ctx.prefix)
            if len(keys) > n and tuple(k.lower() for k in keys[:n]) == ctx.prefix:
                return pred(ctx.operand(keys[n:]))
        operand = self._route(path)
        if operand is not None:
            return pred(operand)
        relation = self._relation(path)
        if relation is not None:
            rest = keys[1:]
            return relation(lambda elems: pred(elems.operand(rest)))
        if path.attribute.multi_valued:
            rest = keys[len(path.parent.keys) :]
            return self._json_exists(path, lambda elems: pred(elems.operand(rest)))
        r = resources.c
        return pred(_Json(self.ops, self.ops.at(r.data, keys), self.ops.at(r.folded, keys)))

    # -- comparisons --------------------------------------------------------------------

    def _compare(self, operand: _Operand, f: Compare) -> Expr:
        d, op, value = f.path.definition, f.op, f.value
        kind = d.type
        if kind in _STRINGY or kind is AttributeType.DATETIME:
            if not isinstance(value, str):
                return _false()
            if kind is AttributeType.DATETIME and op not in _ORDERING:
                return _false()
            # Canonical dateTime strings order like their instants; compare them exactly.
            folded = kind in _STRINGY and not d.case_exact
            x = operand.text(folded)
            if x is None:
                return _false()
            v = value.lower() if folded else value
            if op == "eq":
                return x == v
            if op == "sw" and isinstance(operand, _Column | _FoldedKey):
                return self._starts_with(x, v)
            if op in ("co", "sw", "ew"):
                e = like_escape(v)
                pattern = {"co": f"%{e}%", "sw": f"{e}%", "ew": f"%{e}"}[op]
                return x.like(pattern, escape=_LIKE_ESCAPE)
            xc = sa.collate(x, "C") if self.pg else x
            return self._ordered(op, xc, v)
        if kind is AttributeType.BOOLEAN:
            return operand.bool_eq(value) if op == "eq" and isinstance(value, bool) else _false()
        if kind in _NUMERIC:
            if isinstance(value, bool) or not isinstance(value, int | float) or op not in _ORDERING:
                return _false()
            n = operand.number()
            return _false() if n is None else self._ordered(op, n, value)
        return _false()

    def _starts_with(self, x: Expr, prefix: str) -> Expr:
        """``x`` starts with ``prefix``, as a range an index in code point order serves."""
        xc = sa.collate(x, "C") if self.pg else x
        end = prefix_end(prefix)
        return xc >= prefix if end is None else sa.and_(xc >= prefix, xc < end)

    @staticmethod
    def _ordered(op: str, x: Expr, v: Any) -> Expr:
        compared: Expr = {"eq": x == v, "gt": x > v, "ge": x >= v, "lt": x < v, "le": x <= v}[op]
        return compared

    # -- routing to columns and side tables ---------------------------------------------

    def _route(self, path: ResolvedPath) -> _Operand | None:
        """A real column holding this (single-valued) attribute, if there is one."""
        if path.extension:
            return None
        r = resources.c
        keys = path.keys
        lower = self._lower
        common: dict[tuple[str, ...], _Operand] = {
            ("id",): _Column(r.id, lower=lower),
            ("externalId",): _Column(r.external_id, lower=lower),
            ("meta", "created"): _Column(r.created),
            ("meta", "lastModified"): _Column(r.last_modified),
            ("meta", "version"): _Column(r.version, lower=lower),
        }
        if path.schema_id is None:
            return common.get(keys)
        if self.rt == "User" and keys == ("userName",):
            return _Column(r.name, r.name_key)
        if self.rt == "User" and keys == ("active",):
            return _Column(r.active, kind="bool")
        if self.rt == "User" and keys == ("displayName",):
            json = _Json(self.ops, self.ops.at(r.data, keys), self.ops.at(r.folded, keys))
            return _FoldedKey(json, r.display_key)
        if self.rt == "Group" and keys == ("displayName",):
            return _Column(r.name, r.name_key)
        return None

    def _lower(self, expr: Expr) -> Expr:
        # Only for ids and relation columns: ASCII in practice, where SQL lower() agrees
        # with Python; SQLite gets Python's own lower (engine.scim_lower).
        return sa.func.lower(expr) if self.pg else sa.func.scim_lower(expr)

    def _is_email_probe(self, f: Compare) -> bool:
        return (
            self.rt == "User"
            and not f.path.extension
            and f.path.keys == ("emails", "value")
            and f.op in ("eq", "sw")
            and isinstance(f.value, str)
            and not f.path.definition.case_exact
        )

    @staticmethod
    def _same_attr(outer: ResolvedPath, inner: ResolvedPath) -> bool:
        return tuple(k.lower() for k in inner.parent.keys) == tuple(
            k.lower() for k in outer.parent.keys
        )

    def _email_probe(self, value: str, op: str) -> Expr:
        """``emails.value eq`` / ``sw``: the users with a matching row in ``resource_emails``
        (which holds every string ``emails[].value`` of a User, lowered by Python)."""
        e = resource_emails.c
        key = value.lower()
        match = e.value_key == key if op == "eq" else self._starts_with(e.value_key, key)
        hits = sa.select(e.resource_id).where(e.organization_id == self.org, match)
        return resources.c.id.in_(hits)

    def _relation(self, path: ResolvedPath) -> Callable[[Callable[[_Elements], Expr]], Expr] | None:
        """``members`` of Groups / ``groups`` of Users: EXISTS over ``group_members``."""
        if path.extension or path.schema_id is None:
            return None
        name = path.attribute.name
        if not (
            (self.rt == "Group" and name == "members") or (self.rt == "User" and name == "groups")
        ):
            return None
        gm = group_members.alias(f"gm{next(self._names)}")
        other = resources.alias(f"rel{next(self._names)}")
        if name == "members":
            mine, theirs, kind = gm.c.group_id, gm.c.member_id, gm.c.member_type
            # What reads show: the display the client sent, else the member's name.
            display_exact: Expr = sa.func.coalesce(gm.c.display, other.c.display_name, other.c.name)
            display_folded: Expr = sa.case(
                (gm.c.display.is_not(None), self._lower(gm.c.display)),
                (
                    other.c.display_name.is_not(None),
                    self.ops.text(self.ops.at(other.c.folded, ("displayName",))),
                ),
                else_=other.c.name_key,
            )
            type_col: Expr = kind
        else:
            mine, theirs = gm.c.member_id, gm.c.group_id
            display_exact, display_folded = other.c.name, other.c.name_key
            type_col = sa.literal("direct")
        columns: dict[str, _Operand] = {
            "value": _Column(theirs, lower=self._lower),
            "display": _Column(display_exact, display_folded),
            "type": _Column(type_col, lower=self._lower),
        }

        def operand(rest: tuple[str, ...]) -> _Operand:
            if not rest:
                return _Row()  # the element itself: complex, compares false
            return columns.get(rest[0].lower(), _Operand())

        def exists(body: Callable[[_Elements], Expr]) -> Expr:
            cond = body(_Elements((name.lower(),), operand))
            q = (
                sa.select(sa.literal(1))
                .select_from(
                    gm.join(
                        other,
                        sa.and_(
                            other.c.organization_id == gm.c.organization_id, other.c.id == theirs
                        ),
                    )
                )
                .where(
                    gm.c.organization_id == resources.c.organization_id,
                    mine == resources.c.id,
                    cond,
                )
            )
            return q.exists()

        return exists

    # -- JSON arrays --------------------------------------------------------------------

    def _json_exists(
        self, path: ResolvedPath, body: Callable[[_Elements], Expr], *, objects_only: bool = False
    ) -> Expr:
        array_keys = path.parent.keys if path.sub_attribute else path.keys
        je, data, folded, _pos = self.ops.elements(f"je{next(self._names)}", array_keys)
        ops = self.ops

        def operand(rest: tuple[str, ...]) -> _Operand:
            return _Json(ops, ops.sub(data, rest), ops.sub(folded, rest))

        cond = body(_Elements(tuple(k.lower() for k in array_keys), operand))
        if objects_only:  # a value path only looks at elements that are objects
            cond = sa.and_(ops.is_object(data), cond)
        return sa.select(sa.literal(1)).select_from(je).where(cond).exists()

    def _primary_element_key(self, path: ResolvedPath) -> Expr | None:
        """Sort key of a multi-valued attribute: its primary element's value, else the first's.

        Written as ``CASE WHEN EXISTS(primary) THEN (primary's) ELSE (first's) END``
        because SQLite rejects an ORDER BY that refers to the outer row inside a
        correlated subquery.
        """
        array_keys = path.parent.keys if path.sub_attribute else path.keys
        rest = path.keys[len(array_keys) :]
        ops = self.ops

        def pick() -> tuple[Any, Expr | None, Expr, Expr]:
            je, data, folded, pos = ops.elements(f"je{next(self._names)}", array_keys)
            key = self._typed(
                _Json(ops, ops.sub(data, rest), ops.sub(folded, rest)), path.definition
            )
            return je, key, ops.bool_eq(ops.sub(data, ("primary",)), True), pos

        je1, key1, primary1, pos1 = pick()
        je2, key2, _p, pos2 = pick()
        je3, _k, primary3, _pos = pick()
        if key1 is None or key2 is None:
            return None
        of_primary = (
            sa.select(key1).select_from(je1).where(primary1).order_by(pos1).limit(1)
        ).scalar_subquery()
        of_first = sa.select(key2).select_from(je2).order_by(pos2).limit(1).scalar_subquery()
        has_primary = sa.select(sa.literal(1)).select_from(je3).where(primary3).exists()
        return sa.case((has_primary, of_primary), else_=of_first)

    def _typed(self, operand: _Operand, d: Attribute) -> Expr | None:
        if d.type in _STRINGY:
            x = operand.text(not d.case_exact)
        elif d.type is AttributeType.DATETIME:
            x = operand.text(False)
        elif d.type in _NUMERIC:
            x = operand.number()
        elif d.type is AttributeType.BOOLEAN:
            return operand.boolean()
        else:
            return None
        if x is not None and self.pg and d.type not in _NUMERIC:
            return sa.collate(x, "C")
        return x
