"""A precedence-correct parser for SCIM filters (RFC 7644 section 3.4.2.2).

:func:`parse_filter` turns filter text into the tree of :mod:`.nodes`, with every
attribute path resolved against a resource type and every comparison value checked
against the attribute's type, so consumers (the in-memory matcher, the SQL
compiler) only ever see well-typed, canonical trees.

Grammar (RFC 7644 3.4.2.2, figure 1, and its precedence rules)::

    filter     = or-expr EOF
    or-expr    = and-expr *("or" and-expr)
    and-expr   = not-expr *("and" not-expr)
    not-expr   = "not" not-expr / primary          ; RFC: "not" "(" filter ")"
    primary    = "(" or-expr ")" / attr-expr
    attr-expr  = path "pr" / path compareOp compValue
               / path "[" or-expr "]" [ "." subAttr ( "pr" / compareOp compValue ) ]
    path       = [ URN ":" ] attrName [ "." subAttr ]

``not`` binds tighter than ``and``, which binds tighter than ``or`` ("Logical
operators - where 'not' takes precedence over 'and', which takes precedence over
'or'"). The RFC writes ``not`` before a parenthesised filter; we also accept it
before a comparison or value path, which is unambiguous. Keywords, operators and
``true``/``false``/``null`` are case-insensitive; attribute names too (RFC 7643 2.1).

Decisions beyond the RFC text, all documented in :mod:`.match` as well:

* Comparisons on a complex attribute without a sub-attribute mean its ``value``
  sub-attribute (``emails co "x"`` is ``emails.value co "x"``); ``pr`` on a complex
  attribute means the attribute itself is present (``Present(emails)``). ``eq null``
  and ``ne null`` are ``not pr`` and ``pr`` (see :mod:`.match`), so they resolve like
  ``pr``: ``emails eq null`` is ``Compare(emails, "eq", None)``, not ``emails.value``.
* Inside ``attr[...]`` attribute names are sub-attributes of ``attr`` and are
  resolved to absolute paths (``emails.type``). Value paths do not nest (RFC 7644
  3.10 ``valFilter`` contains ``attrExp``, not ``valuePath``).
* The form Entra ID sends, ``emails[type eq "work"].value eq "x"``, becomes
  ``ValuePath(emails, And(<inner>, Compare(emails.value, eq, "x")))``: the same
  element must satisfy both.
* ``schemas`` (RFC 7643 section 3, used in an RFC 7644 3.4.2.2 example) is not in
  any schema definition; it resolves to :data:`SCHEMAS_ATTRIBUTE`, a multi-valued,
  case-insensitive string at the resource root (key ``schemas``).
* Chains of the same logical operator are built as balanced trees (``and``/``or``
  are associative), so a long chain of ``or`` terms cannot exhaust the recursion
  limit of a tree walker; nesting of ``()``, ``[]`` and ``not`` is capped at
  :data:`MAX_NESTING`, a filter holds at most :data:`MAX_TERMS` attribute
  expressions and compares with strings of at most :data:`MAX_VALUE_LENGTH`
  characters, so every backend can run any filter this parser accepts, alike.

Type checks (RFC 7644 3.4.2.2 table 3; each failure is :class:`InvalidFilter`):

* ``gt``/``ge``/``lt``/``le`` on boolean or binary attributes (the RFC says SHALL
  fail); ``co``/``sw``/``ew`` only on string, reference and binary attributes;
  ``null`` only with ``eq``/``ne``; no filter on a complex attribute without a
  ``value`` sub-attribute.
* string/reference/binary need a string value; integer/decimal a number;
  boolean ``true``/``false`` (under rule ``entra.boolean-strings`` of the IdP
  profile, :mod:`scimcore.compat`, the strings ``"true"``/``"false"`` in any case
  are accepted and converted); dateTime a string that is an
  RFC 3339 ``date-time`` with an offset, stored in the node as
  :func:`canonical_datetime` so that string order equals time order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from ..compat import AUTO, Profile, boolean_from_string
from ..errors import InvalidFilter, InvalidPath
from ..paths import AttrPath, ResolvedPath, resolve
from ..schema.attributes import Attribute, AttributeType, Mutability, ResourceType
from .lexer import COMPARE_TOKENS, Token, quote_filter, tokenize
from .nodes import And, Compare, CompareOp, Filter, Not, Or, Present, Value, ValuePath

__all__ = [
    "MAX_NESTING",
    "MAX_TERMS",
    "MAX_VALUE_LENGTH",
    "SCHEMAS_ATTRIBUTE",
    "canonical_datetime",
    "parse_datetime",
    "parse_filter",
]

#: Deepest nesting of ``(...)``, ``[...]`` and ``not`` accepted.
MAX_NESTING = 50
#: Most attribute expressions (``userName eq "x"``, ``emails pr``, and each one inside
#: ``[...]``) in one filter. IdPs send one or two; a client fetching users by a list of
#: ids sends one per id. Every backend runs this many (SQLite parses ``a OR b OR ...``
#: into a tree one level per term and stops at 1,000 levels).
MAX_TERMS = 200
#: Longest string a filter compares with, in characters. Stored keys are at most 512;
#: this leaves room for long free-text and binary values while keeping every pattern
#: within what each backend runs the same way (SQLite refuses LIKE patterns over
#: 50,000 bytes; this is at most 40,000, escapes included).
MAX_VALUE_LENGTH = 10_000

#: ``schemas`` (RFC 7643 section 3): on every resource, in no schema definition.
SCHEMAS_ATTRIBUTE = Attribute(
    "schemas",
    AttributeType.STRING,
    multi_valued=True,
    required=True,
    mutability=Mutability.READ_ONLY,
    description="The schema URIs the resource conforms to (RFC 7643 section 3).",
)

_OPS: dict[str, CompareOp] = {
    "EQ": "eq",
    "NE": "ne",
    "CO": "co",
    "SW": "sw",
    "EW": "ew",
    "GT": "gt",
    "GE": "ge",
    "LT": "lt",
    "LE": "le",
}
_ORDERING: frozenset[str] = frozenset({"gt", "ge", "lt", "le"})
_SUBSTRING: frozenset[str] = frozenset({"co", "sw", "ew"})
_STRINGY = (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY)
_NUMERIC = (AttributeType.INTEGER, AttributeType.DECIMAL)
_VALUE_TOKENS: frozenset[str] = frozenset({"COMP_VALUE", "NUMBER", "TRUE", "FALSE", "NULL"})
_OPERATOR_LIST = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)"

# RFC 3339 section 5.6 date-time; the NOTE there allows "t" and a space for "T".
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def canonical_datetime(dt: datetime) -> str:
    """``dt`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always microseconds).

    The form resources store ``meta.created``/``meta.lastModified`` in, so that
    comparing the strings compares the instants. Equal to
    ``dt.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')`` except that the year is
    always zero-padded to four digits (``strftime('%Y')`` is not, for years < 1000).
    A naive ``dt`` is taken to be UTC.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    u = dt.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def parse_datetime(text: str) -> datetime | None:
    """Parse an RFC 3339 ``date-time`` (offset required) to an aware UTC datetime.

    Returns ``None`` if ``text`` is not one, or is out of the representable range once
    converted to UTC. Fractional seconds beyond microseconds are truncated.
    """
    if not _RFC3339.fullmatch(text):
        return None
    normal = text[:10] + "T" + text[11:]
    if normal[-1] in "Zz":
        normal = normal[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(normal).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_filter(text: str, resource_type: ResourceType, profile: Profile = AUTO) -> Filter:
    """Parse ``text`` (RFC 7644 3.4.2.2) into a resolved, type-checked :data:`Filter`.

    Raises :class:`InvalidFilter` (and nothing else, whatever the input) with a
    detail that names the problem and its 1-based position in ``text``.
    ``profile`` is the IdP profile whose rule ``entra.boolean-strings`` decides
    whether ``"true"``/``"false"`` strings compare with booleans.
    """
    try:
        return _Parser(text, resource_type, profile).parse()
    except InvalidFilter:
        raise
    except RecursionError as exc:  # MAX_NESTING should prevent this; be safe anyway
        raise InvalidFilter(f"The filter {quote_filter(text)} is nested too deeply.") from exc


def _balanced(make: Callable[[Filter, Filter], Filter], items: list[Filter]) -> Filter:
    """Combine ``items`` with an associative operator into a tree of depth log2(n)."""
    if len(items) == 1:
        return items[0]
    mid = (len(items) + 1) // 2
    return make(_balanced(make, items[:mid]), _balanced(make, items[mid:]))


class _Parser:
    """Recursive descent over the tokens of one filter; see the module grammar."""

    def __init__(self, text: str, resource_type: ResourceType, profile: Profile) -> None:
        self.text = text
        self.rt = resource_type
        self.profile = profile
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.terms = 0

    # -- token helpers -------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        if tok.type != "EOF":
            self.index += 1
        return tok

    def where(self, tok: Token) -> str:
        return f"at position {tok.start + 1} in filter {quote_filter(self.text)}"

    def unexpected(self, tok: Token, expected: str) -> InvalidFilter:
        if tok.type == "EOF":
            return InvalidFilter(
                f"Unexpected end of filter {quote_filter(self.text)}: expected {expected}."
            )
        shown = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
        return InvalidFilter(f"Unexpected '{shown}' {self.where(tok)}: expected {expected}.")

    def nest(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise InvalidFilter(
                f"Filter nested too deeply {self.where(tok)}: at most {MAX_NESTING} levels "
                "of '(', '[' and 'not' are allowed."
            )

    def expect_close(self, kind: str, opener: Token, expected: str) -> Token:
        tok = self.peek()
        if tok.type != kind:
            closing = ")" if kind == "RPAREN" else "]"
            raise self.unexpected(
                tok,
                f"{expected} or '{closing}' to close the '{opener.text}' at position "
                f"{opener.start + 1}",
            )
        self.depth -= 1
        return self.advance()

    # -- grammar ---------------------------------------------------------------

    def parse(self) -> Filter:
        if not self.text.strip():
            raise InvalidFilter("The filter is empty; expected e.g. 'userName eq \"bjensen\"'.")
        result = self.parse_or(None)
        tok = self.peek()
        if tok.type != "EOF":
            raise self.unexpected(tok, "'and', 'or' or the end of the filter")
        return result

    def parse_or(self, scope: ResolvedPath | None) -> Filter:
        terms = [self.parse_and(scope)]
        while self.peek().type == "OR":
            self.advance()
            terms.append(self.parse_and(scope))
        return _balanced(Or, terms)

    def parse_and(self, scope: ResolvedPath | None) -> Filter:
        terms = [self.parse_not(scope)]
        while self.peek().type == "AND":
            self.advance()
            terms.append(self.parse_not(scope))
        return _balanced(And, terms)

    def parse_not(self, scope: ResolvedPath | None) -> Filter:
        tok = self.peek()
        if tok.type != "NOT":
            return self.parse_primary(scope)
        self.advance()
        self.nest(tok)
        expr = self.parse_not(scope)
        self.depth -= 1
        return Not(expr)

    def parse_primary(self, scope: ResolvedPath | None) -> Filter:
        tok = self.peek()
        if tok.type == "LPAREN":
            self.advance()
            self.nest(tok)
            inner = self.parse_or(scope)
            self.expect_close("RPAREN", tok, "'and', 'or'")
            return inner
        if tok.type in ("ATTRNAME", "SCHEMA_URI"):
            return self.parse_attr_expr(scope)
        raise self.unexpected(tok, "an attribute path, 'not' or '('")

    def parse_path(self) -> tuple[AttrPath, Token]:
        """``[URN:]attr[.sub]``; the parts must be adjacent (no spaces inside a path)."""
        first = self.advance()
        urn: str | None = None
        name_tok = first
        if first.type == "SCHEMA_URI":
            urn = str(first.value)
            name_tok = self.advance()
            if name_tok.type != "ATTRNAME" or name_tok.start != first.end:
                raise self.unexpected(name_tok, f"an attribute name right after '{first.text}'")
        sub: str | None = None
        nxt = self.peek()
        if nxt.type == "SUBATTR" and nxt.start == name_tok.end:
            self.advance()
            sub = str(nxt.value)
        return AttrPath(urn, str(name_tok.value), sub), first

    def parse_attr_expr(self, scope: ResolvedPath | None) -> Filter:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise InvalidFilter(
                f"Too many comparisons {self.where(self.peek())}: a filter may have at most "
                f"{MAX_TERMS} (such as 'userName eq \"x\"'); split the request."
            )
        path, first = self.parse_path()
        tok = self.peek()
        if tok.type == "LBRACKET":
            return self.parse_value_path(scope, path, first, tok)
        if tok.type == "PR":
            self.advance()
            return Present(self.resolve(scope, path, first, implicit_value=False))
        if tok.type in COMPARE_TOKENS:
            # "x eq null" is "not (x pr)", so like pr it names a complex attribute itself.
            implicit = self.tokens[self.index + 1].type != "NULL"
            return self.parse_comparison(self.resolve(scope, path, first, implicit_value=implicit))
        raise self.unexpected(tok, f"{_OPERATOR_LIST} after '{path}'")

    def parse_comparison(self, path: ResolvedPath) -> Compare:
        op_tok = self.advance()
        op = _OPS[op_tok.type]
        value_tok = self.advance()
        if value_tok.type not in _VALUE_TOKENS:
            raise self.unexpected(
                value_tok,
                f"a value after '{op_tok.text}': a quoted string, a number, true, false or null",
            )
        return Compare(path, op, self.check_value(path, op_tok, value_tok))

    def parse_value_path(
        self, scope: ResolvedPath | None, path: AttrPath, first: Token, bracket: Token
    ) -> ValuePath:
        if scope is not None:
            raise InvalidFilter(
                f"Nested value filter '{path}[...]' {self.where(bracket)}: a filter inside "
                f"'{scope}[...]' cannot contain another '[...]' (RFC 7644 3.10 valFilter)."
            )
        if path.sub is not None:
            raise InvalidFilter(
                f"Value filter on sub-attribute '{path}' {self.where(bracket)}: '[...]' must "
                "follow a complex attribute such as 'emails'."
            )
        outer = self.resolve(None, path, first, implicit_value=False)
        if not outer.attribute.is_complex:
            raise InvalidFilter(
                f"Value filter '[...]' on attribute '{outer}' {self.where(bracket)}: "
                f"'{outer}' is of type {outer.attribute.type.value}, and '[...]' applies only "
                "to complex attributes such as 'emails'."
            )
        self.advance()
        self.nest(bracket)
        inner = self.parse_or(outer)
        close = self.expect_close("RBRACKET", bracket, "'and', 'or'")
        nxt = self.peek()
        if nxt.type != "SUBATTR" or nxt.start != close.end:
            return ValuePath(outer, inner)
        # Entra ID form: emails[type eq "work"].value eq "x"
        self.advance()
        sub = outer.attribute.sub(str(nxt.value))
        if sub is None:
            raise InvalidFilter(
                f"Unknown attribute '{outer}.{nxt.value}' {self.where(nxt)}: '{outer}' has no "
                f"sub-attribute '{nxt.value}'."
            )
        target = outer.with_sub(sub)
        op_tok = self.peek()
        cond: Filter
        if op_tok.type == "PR":
            self.advance()
            cond = Present(target)
        elif op_tok.type in COMPARE_TOKENS:
            cond = self.parse_comparison(target)
        else:
            raise self.unexpected(op_tok, f"{_OPERATOR_LIST} after '{nxt.text}'")
        return ValuePath(outer, And(inner, cond))

    # -- resolution and type checks ---------------------------------------------

    def resolve(
        self, scope: ResolvedPath | None, path: AttrPath, first: Token, *, implicit_value: bool
    ) -> ResolvedPath:
        if scope is not None:
            # Inside attr[...]: a bare sub-attribute name of the scope attribute.
            if path.urn is not None or path.sub is not None:
                raise InvalidFilter(
                    f"Attribute path '{path}' {self.where(first)} is not allowed inside "
                    f"'{scope}[...]': name a sub-attribute of '{scope}', e.g. 'type'."
                )
            sub = scope.attribute.sub(path.attr)
            if sub is None:
                raise InvalidFilter(
                    f"Unknown attribute '{path.attr}' {self.where(first)}: '{scope}' has no "
                    f"sub-attribute '{path.attr}'."
                )
            return self.filterable(scope.with_sub(sub), first)
        if path.urn is None and path.sub is None and path.attr.lower() == "schemas":
            return ResolvedPath(None, False, SCHEMAS_ATTRIBUTE)
        try:
            resolved = resolve(self.rt, path, implicit_value=implicit_value)
        except InvalidPath as exc:
            raise InvalidFilter(
                f"Unknown attribute '{path}' {self.where(first)}: {exc.detail}"
            ) from exc
        return self.filterable(resolved, first)

    def filterable(self, path: ResolvedPath, first: Token) -> ResolvedPath:
        """``path``, unless it is never returned: a filter on ``password`` would tell a
        client which users have one, or let it guess one a character at a time."""
        if path.never_returned:
            raise InvalidFilter(
                f"Attribute '{path}' {self.where(first)} is never returned "
                '(RFC 7643 2.2 returned "never"), so it cannot be filtered on.'
            )
        if path.made_when_answered:
            raise InvalidFilter(
                f"Attribute '{path}' {self.where(first)} is not stored but made from the "
                f"service's URL in each answer, so it cannot be filtered on; filter on "
                f"'{'id' if path.keys[0] == 'meta' else path.keys[0] + '.value'}' instead."
            )
        return path

    def check_value(self, path: ResolvedPath, op_tok: Token, tok: Token) -> Value:
        """Check ``path op value`` against the attribute type; return the value to store."""
        op = _OPS[op_tok.type]
        definition = path.definition
        kind = definition.type
        value = tok.value
        name = f"'{path}'"
        if definition.is_complex and value is not None:
            example = definition.sub_attributes[0].name if definition.sub_attributes else "x"
            raise InvalidFilter(
                f"Attribute {name} is complex {self.where(tok)}: compare one of its "
                f"sub-attributes instead, e.g. '{path}.{example}'."
            )
        if value is None:
            if op not in ("eq", "ne"):
                raise InvalidFilter(
                    f"Operator '{op}' cannot be used with null {self.where(op_tok)}: null can "
                    "only be compared with eq or ne (or use 'pr')."
                )
            return None
        if (op in _ORDERING and kind in (AttributeType.BOOLEAN, AttributeType.BINARY)) or (
            op in _SUBSTRING and kind not in _STRINGY
        ):
            raise InvalidFilter(
                f"Operator '{op}' cannot be applied to {kind.value} attribute {name} "
                f"{self.where(op_tok)} (RFC 7644 3.4.2.2)."
            )
        if kind is AttributeType.BOOLEAN:
            if isinstance(value, bool):
                return value
            parsed = boolean_from_string(value, self.profile)
            if parsed is not None:
                return parsed
            raise InvalidFilter(
                f"Attribute {name} is boolean; compare it with true or false, not {tok.text} "
                f"{self.where(tok)}."
            )
        if kind in _STRINGY:
            if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
                raise InvalidFilter(
                    f"The value compared with {name} {self.where(tok)} is {len(value):,} "
                    f"characters long; a filter value may have at most {MAX_VALUE_LENGTH:,}."
                )
            if isinstance(value, str):
                return value
            raise InvalidFilter(
                f"Attribute {name} is a {kind.value}; compare it with a quoted string, not "
                f"{tok.text} {self.where(tok)}."
            )
        if kind in _NUMERIC:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise InvalidFilter(
                f"Attribute {name} is {kind.value}; compare it with a number, not {tok.text} "
                f"{self.where(tok)}."
            )
        # dateTime
        instant = parse_datetime(value) if isinstance(value, str) else None
        if instant is None:
            raise InvalidFilter(
                f"Attribute {name} is a dateTime; compare it with a quoted RFC 3339 date-time "
                f'such as "2011-05-13T04:42:34Z", not {tok.text} {self.where(tok)}.'
            )
        return canonical_datetime(instant)
