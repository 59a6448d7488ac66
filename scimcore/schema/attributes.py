"""Attribute characteristics as data (RFC 7643 sections 2.2 and 7).

An :class:`Attribute` is a frozen description of one attribute: its type, whether it
is multi-valued, and the characteristics the engine enforces (mutability, returned,
uniqueness, caseExact, required, canonical values). A :class:`Schema` groups the
attributes of one schema URI and a :class:`ResourceType` binds a core schema and its
extensions to an endpoint. Nothing here knows about HTTP or storage, and an extension
schema declared with these types behaves correctly without new engine code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AttributeType(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BINARY = "binary"
    REFERENCE = "reference"
    COMPLEX = "complex"


class Mutability(StrEnum):
    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


#: Most values a multi-valued attribute holds in a resource, unless it says otherwise.
#: A user's emails, phone numbers or roles are a handful; the bound keeps a 1 MB body
#: from making one resource of 20,000 emails, whose validation and PATCH value filters
#: then cost seconds of CPU each time.
MAX_VALUES = 1000


class Uniqueness(StrEnum):
    NONE = "none"
    SERVER = "server"
    GLOBAL = "global"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition (RFC 7643 section 7, ``attributes``)."""

    name: str
    type: AttributeType = AttributeType.STRING
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: Uniqueness = Uniqueness.NONE
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    #: Most values of a multi-valued attribute (not part of RFC 7643: not in /Schemas);
    #: ``None`` for no bound, as for a group's ``members``, which are rows of their own.
    max_values: int | None = MAX_VALUES
    _index: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.sub_attributes})

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``; attribute names are case-insensitive."""
        return self._index.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type is AttributeType.COMPLEX

    def to_dict(self) -> dict[str, Any]:
        """The attribute as RFC 7643 section 7 represents it in ``/Schemas``."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
        }
        if self.type in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
            out["caseExact"] = self.case_exact
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        out["mutability"] = self.mutability.value
        out["returned"] = self.returned.value
        out["uniqueness"] = self.uniqueness.value
        if self.sub_attributes:
            out["subAttributes"] = [a.to_dict() for a in self.sub_attributes]
        return out


@dataclass(frozen=True)
class Schema:
    """A schema URI and its attributes (RFC 7643 section 7)."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _index: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.attributes})

    def attribute(self, name: str) -> Attribute | None:
        return self._index.get(name.lower())

    def to_dict(self, location: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_dict() for a in self.attributes],
            "meta": {"resourceType": "Schema"},
        }
        if location:
            out["meta"]["location"] = location
        return out


@dataclass(frozen=True)
class SchemaExtension:
    schema: Schema
    required: bool = False


@dataclass(frozen=True)
class ResourceType:
    """A resource type: endpoint, core schema and extensions (RFC 7643 section 6)."""

    id: str
    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[SchemaExtension, ...] = ()

    @property
    def schema_ids(self) -> tuple[str, ...]:
        return (self.schema.id, *(e.schema.id for e in self.extensions))

    def extension(self, urn: str) -> Schema | None:
        """The extension schema whose URN equals ``urn`` (compared case-insensitively)."""
        for ext in self.extensions:
            if ext.schema.id.lower() == urn.lower():
                return ext.schema
        return None

    def schemas(self) -> Iterator[Schema]:
        yield self.schema
        for ext in self.extensions:
            yield ext.schema

    def to_dict(self, location: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [
                {"schema": e.schema.id, "required": e.required} for e in self.extensions
            ],
            "meta": {"resourceType": "ResourceType"},
        }
        if location:
            out["meta"]["location"] = location
        return out
