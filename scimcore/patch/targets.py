"""PATCH paths (RFC 7644 3.5.2: ``PATH = attrPath / valuePath [subAttr]``).

A path names an attribute, optionally narrowed to the elements of a multi-valued
attribute that match a value filter, optionally followed by a sub-attribute:
``name.givenName``, ``members[value eq "2819c223"]``,
``emails[type eq "work"].value``. The filter is parsed by :mod:`scimcore.filters`;
this module only finds where it starts and ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..compat import AUTO, Profile
from ..errors import InvalidPath
from ..filters import matches, parse_filter
from ..filters.nodes import And, Compare, Filter, Or, ValuePath
from ..paths import ResolvedPath, resolve
from ..schema.attributes import Attribute, ResourceType
from .values import coerce_complex


@dataclass(frozen=True)
class Target:
    """Where an operation applies.

    ``path`` is the attribute (never with a sub-attribute); ``filter`` selects
    elements of a multi-valued ``path`` (its paths are absolute, e.g.
    ``emails.type``); ``sub`` is the sub-attribute written within the value(s).
    """

    text: str
    path: ResolvedPath
    filter: Filter | None = None
    sub: Attribute | None = None

    @property
    def attribute(self) -> Attribute:
        return self.path.attribute

    @property
    def whole(self) -> bool:
        """The path names the attribute itself, not part of its value."""
        return self.filter is None and self.sub is None


def parse_target(rt: ResourceType, text: str, profile: Profile = AUTO) -> Target:
    """Resolve a PATCH path against ``rt``.

    Raises :class:`~scimcore.errors.InvalidPath` for an unknown attribute or a
    malformed path, and lets :class:`~scimcore.errors.InvalidFilter` from the
    filter parser through (RFC 7644 3.12 lists invalidFilter for PATCH path
    filters).
    """
    text = text.strip()
    open_at = text.find("[")
    if open_at == -1:
        resolved = resolve(rt, text)
        return Target(text, resolved.parent, None, resolved.sub_attribute)
    close_at = _closing_bracket(text, open_at)
    attr_text, inner, rest = text[:open_at], text[open_at + 1 : close_at], text[close_at + 1 :]
    if rest and (not rest.startswith(".") or len(rest) == 1):
        raise InvalidPath(f"'{text}' is not a valid path: unexpected '{rest}' after the filter.")
    resolved = resolve(rt, attr_text)
    attribute = resolved.attribute
    if resolved.sub_attribute is not None or not (attribute.multi_valued and attribute.is_complex):
        raise InvalidPath(
            f"'{text}' is not a valid path: a value filter applies only to a multi-valued "
            "complex attribute."
        )
    if not inner.strip():
        raise InvalidPath(f"'{text}' is not a valid path: the value filter is empty.")
    parsed = parse_filter(f"{attr_text}[{inner}]", rt, profile)
    if not isinstance(parsed, ValuePath):
        raise InvalidPath(f"'{text}' is not a valid path.")
    sub = None
    if rest:
        sub = attribute.sub(rest[1:])
        if sub is None:
            raise InvalidPath(f"'{rest[1:]}' is not a sub-attribute of '{attribute.name}'.")
    return Target(text, resolved, parsed.filter, sub)


def names_attribute(rt: ResourceType, text: str) -> bool:
    """Whether ``text``, a key of a PATCH value object, starts with an attribute (and
    sub-attribute) of ``rt``. An unknown one is ignored like an unknown attribute in a
    POST body; a known one is parsed as a path, and a malformed rest is an error."""
    head = text.strip().split("[", 1)[0]
    try:
        resolve(rt, head)
    except InvalidPath:
        return False
    return True


def _closing_bracket(text: str, open_at: int) -> int:
    """Index of the ``]`` closing the filter opened at ``open_at``, skipping quoted strings."""
    in_string = False
    escaped = False
    for i in range(open_at + 1, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[":
            raise InvalidPath(f"'{text}' is not a valid path: value filters cannot be nested.")
        elif char == "]":
            return i
    raise InvalidPath(f"'{text}' is not a valid path: the value filter is not closed.")


def element_matches(target: Target, element: Any) -> bool:
    """Whether one element of ``target.path`` is selected by the target's filter.

    The filter's paths are absolute (``emails.type``), so the element is wrapped
    in a one-element resource of the same shape and matched as a value path.
    """
    if target.filter is None:
        return True
    if not isinstance(element, dict):
        return False
    wrapped: dict[str, Any] = {target.path.attribute.name: [element]}
    if target.path.extension and target.path.schema_id:
        wrapped = {target.path.schema_id: wrapped}
    return matches(ValuePath(target.path, target.filter), wrapped)


def filter_template(target: Target, profile: Profile) -> dict[str, Any] | None:
    """The element a filter describes, if it is a conjunction of ``eq`` comparisons.

    ``emails[type eq "work"]`` describes ``{"type": "work"}``: when no element
    matches, add (and, tolerantly, replace) create that element, as Entra ID and
    Okta expect for a user who has no work email yet. Any other filter gives
    ``None`` (RFC 7644 3.5.2.3: no match is ``noTarget``). No filter at all
    (``emails.value``) describes an empty element.
    """
    if target.filter is None:
        return {}
    fields = _eq_fields(target.filter)
    if fields is None:
        return None
    return coerce_complex(target.attribute, fields, target.text, profile)


def _eq_fields(node: Filter) -> dict[str, Any] | None:
    if isinstance(node, And):
        left, right = _eq_fields(node.left), _eq_fields(node.right)
        if left is None or right is None:
            return None
        if any(k in right and right[k] != v for k, v in left.items()):
            return None
        return {**left, **right}
    if (
        isinstance(node, Compare)
        and node.op == "eq"
        and node.path.sub_attribute is not None
        and node.value is not None
    ):
        return {node.path.sub_attribute.name: node.value}
    return None


def member_ids(node: Filter) -> list[str] | None:
    """The ids named by ``value eq "a" or value eq "b"``, or ``None`` for any other filter.

    Such filters on a Group's ``members`` are translated without loading members.
    """
    if isinstance(node, Or):
        left, right = member_ids(node.left), member_ids(node.right)
        return None if left is None or right is None else left + right
    if (
        isinstance(node, Compare)
        and node.op == "eq"
        and node.path.sub_attribute is not None
        and node.path.sub_attribute.name == "value"
        and isinstance(node.value, str)
    ):
        return [node.value]
    return None
