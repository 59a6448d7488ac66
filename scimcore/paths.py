"""Attribute paths (RFC 7644 3.10) and their resolution against a resource type.

A path names an attribute, optionally qualified by its schema URN and optionally
followed by a sub-attribute: ``userName``, ``name.givenName``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``.
Attribute names are case-insensitive (RFC 7643 2.1); :func:`resolve` maps what a
client wrote onto the canonical definition, which every other module then uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidPath
from .schema.attributes import Attribute, ResourceType, Returned
from .schema.core import COMMON_ATTRIBUTES

_ATTR_NAME = re.compile(r"^\$?[A-Za-z][A-Za-z0-9_$-]*$")


@dataclass(frozen=True)
class AttrPath:
    """A path as the client wrote it: optional URN, attribute, optional sub-attribute."""

    urn: str | None
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attr}" if self.urn else self.attr
        return f"{text}.{self.sub}" if self.sub else text


#: Multi-valued attributes whose ``$ref`` is made from the service's URL when answered.
_LINKED = frozenset({"members", "groups"})


@dataclass(frozen=True)
class ResolvedPath:
    """A path resolved to attribute definitions, with canonical names.

    ``schema_id`` is ``None`` for the common attributes (``id``, ``externalId``,
    ``meta``); ``extension`` is true when the value lives under the schema URN key
    of the resource (RFC 7643 3.3).
    """

    schema_id: str | None
    extension: bool
    attribute: Attribute
    sub_attribute: Attribute | None = None

    @property
    def definition(self) -> Attribute:
        """The definition of the attribute the path finally names."""
        return self.sub_attribute or self.attribute

    @property
    def keys(self) -> tuple[str, ...]:
        """The JSON keys leading from the resource root to the attribute."""
        head: tuple[str, ...] = (self.schema_id,) if self.extension and self.schema_id else ()
        head += (self.attribute.name,)
        return head + ((self.sub_attribute.name,) if self.sub_attribute else ())

    @property
    def never_returned(self) -> bool:
        """Whether the path names an attribute, or a sub-attribute of one, that is never
        returned (RFC 7643 2.2, ``password``): no filter or ``sortBy`` may reveal
        anything about its value."""
        never = Returned.NEVER
        sub = self.sub_attribute
        return self.attribute.returned is never or (sub is not None and sub.returned is never)

    @property
    def made_when_answered(self) -> bool:
        """Whether the value is not stored but made from the service's URL in each answer
        (``meta.location``, ``members.$ref``, ``groups.$ref``): a filter or ``sortBy`` on
        it cannot be run against what is stored."""
        keys = self.keys
        if self.extension or len(keys) != 2:
            return False
        return keys == ("meta", "location") or (keys[0] in _LINKED and keys[1] == "$ref")

    @property
    def parent(self) -> ResolvedPath:
        """The same path without its sub-attribute."""
        return ResolvedPath(self.schema_id, self.extension, self.attribute)

    def with_sub(self, sub: Attribute) -> ResolvedPath:
        return ResolvedPath(self.schema_id, self.extension, self.attribute, sub)

    def __str__(self) -> str:
        text = self.attribute.name
        if self.extension and self.schema_id:
            text = f"{self.schema_id}:{text}"
        return f"{text}.{self.sub_attribute.name}" if self.sub_attribute else text


def parse_path(text: str) -> AttrPath:
    """Split ``[urn:]attr[.sub]`` into its parts; raise :class:`InvalidPath` if malformed."""
    text = text.strip()
    urn: str | None = None
    rest = text
    if text.lower().startswith("urn:"):
        urn, sep, rest = text.rpartition(":")
        if not sep or not rest:
            raise InvalidPath(f"'{text}' is not a valid attribute path.")
    attr, _, sub = rest.partition(".")
    if not _ATTR_NAME.match(attr) or (sub and not _ATTR_NAME.match(sub)):
        raise InvalidPath(f"'{text}' is not a valid attribute path.")
    return AttrPath(urn, attr, sub or None)


def split_schema_urn(rt: ResourceType, text: str) -> tuple[str, str] | None:
    """If ``text`` starts with one of ``rt``'s schema URNs, return (canonical URN, rest)."""
    lowered = text.lower()
    for schema in rt.schemas():
        urn = schema.id.lower()
        if lowered == urn:
            return schema.id, ""
        if lowered.startswith(urn + ":"):
            return schema.id, text[len(urn) + 1 :]
    return None


def resolve(
    rt: ResourceType, path: AttrPath | str, *, implicit_value: bool = False
) -> ResolvedPath:
    """Resolve ``path`` against ``rt``; raise :class:`InvalidPath` for an unknown attribute.

    With ``implicit_value`` a complex attribute named without a sub-attribute
    resolves to its ``value`` sub-attribute (``emails co "x"`` means ``emails.value``).
    """
    if isinstance(path, str):
        path = parse_path(path)
    schema_id: str | None = None
    extension = False
    attribute: Attribute | None = None
    if path.urn is not None:
        ext = rt.extension(path.urn)
        if ext is not None:
            schema_id, extension, attribute = ext.id, True, ext.attribute(path.attr)
        elif path.urn.lower() == rt.schema.id.lower():
            schema_id, attribute = rt.schema.id, rt.schema.attribute(path.attr)
        else:
            raise InvalidPath(f"'{path.urn}' is not a schema of the {rt.name} resource type.")
    else:
        for common in COMMON_ATTRIBUTES:
            if common.name.lower() == path.attr.lower():
                attribute = common
                break
        else:
            schema_id, attribute = rt.schema.id, rt.schema.attribute(path.attr)
    if attribute is None:
        raise InvalidPath(f"'{path}' is not an attribute of the {rt.name} resource type.")
    resolved = ResolvedPath(schema_id, extension, attribute)
    if path.sub is not None:
        sub = attribute.sub(path.sub)
        if sub is None:
            raise InvalidPath(f"'{path}' is not an attribute of the {rt.name} resource type.")
        return resolved.with_sub(sub)
    if implicit_value and attribute.is_complex:
        value = attribute.sub("value")
        if value is not None:
            return resolved.with_sub(value)
    return resolved
