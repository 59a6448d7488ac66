"""Declaring schemas and resource types as data (RFC 7643 sections 6 and 7).

An embedding application describes an extension schema or a whole new resource type
in the JSON form ``/Schemas`` and ``/ResourceTypes`` publish, or builds the same
frozen dataclasses in Python, and hands the resulting resource types to the service
and the store. Validation, storage, filtering, sorting, PATCH and discovery then
work for it with no change to scimcore: they all read attribute characteristics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidValue
from .attributes import (
    Attribute,
    AttributeType,
    Mutability,
    ResourceType,
    Returned,
    Schema,
    SchemaExtension,
    Uniqueness,
)


def _enum(kind: type[Any], value: Any, default: Any, where: str) -> Any:
    if value is None:
        return default
    for member in kind:
        if str(value).lower() == member.value.lower():
            return member
    allowed = ", ".join(m.value for m in kind)
    raise InvalidValue(f"{where}: '{value}' is not one of {allowed}.")


def attribute_from_dict(doc: Mapping[str, Any], where: str = "attribute") -> Attribute:
    """One attribute definition in the RFC 7643 section 7 form."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidValue(f"{where}: every attribute needs a 'name'.")
    where = f"{where} '{name}'"
    kind = _enum(AttributeType, doc.get("type"), AttributeType.STRING, f"{where} type")
    subs = tuple(
        attribute_from_dict(s, f"{where} sub-attribute") for s in doc.get("subAttributes", ())
    )
    if kind is AttributeType.COMPLEX and not subs:
        raise InvalidValue(f"{where}: a complex attribute needs 'subAttributes'.")
    return Attribute(
        name=name,
        type=kind,
        multi_valued=bool(doc.get("multiValued", False)),
        description=str(doc.get("description", "")),
        required=bool(doc.get("required", False)),
        case_exact=bool(doc.get("caseExact", False)),
        mutability=_enum(Mutability, doc.get("mutability"), Mutability.READ_WRITE, where),
        returned=_enum(Returned, doc.get("returned"), Returned.DEFAULT, where),
        uniqueness=_enum(Uniqueness, doc.get("uniqueness"), Uniqueness.NONE, where),
        canonical_values=tuple(doc.get("canonicalValues", ())),
        reference_types=tuple(doc.get("referenceTypes", ())),
        sub_attributes=subs,
    )


def schema_from_dict(doc: Mapping[str, Any]) -> Schema:
    """A schema in the form ``/Schemas/{id}`` returns (RFC 7643 section 7)."""
    schema_id = doc.get("id")
    if not isinstance(schema_id, str) or not schema_id.lower().startswith("urn:"):
        raise InvalidValue("A schema needs an 'id' that is a URN, e.g. 'urn:acme:params:User'.")
    attrs = tuple(attribute_from_dict(a, schema_id) for a in doc.get("attributes", ()))
    names = [a.name.lower() for a in attrs]
    if len(set(names)) != len(names):
        raise InvalidValue(f"{schema_id}: attribute names must be unique (case-insensitively).")
    return Schema(
        id=schema_id,
        name=str(doc.get("name", schema_id.rsplit(":", 1)[-1])),
        description=str(doc.get("description", "")),
        attributes=attrs,
    )


def resource_type_from_dict(doc: Mapping[str, Any], schemas: Mapping[str, Schema]) -> ResourceType:
    """A resource type in the ``/ResourceTypes`` form; its schema URNs name ``schemas``."""

    def schema(urn: Any) -> Schema:
        found = schemas.get(str(urn))
        if found is None:
            raise InvalidValue(f"Resource type '{doc.get('id')}' names unknown schema '{urn}'.")
        return found

    rt_id = doc.get("id") or doc.get("name")
    endpoint = doc.get("endpoint")
    if not isinstance(rt_id, str) or not isinstance(endpoint, str) or not endpoint.startswith("/"):
        raise InvalidValue("A resource type needs an 'id' and an 'endpoint' such as '/Devices'.")
    return ResourceType(
        id=rt_id,
        name=str(doc.get("name", rt_id)),
        endpoint=endpoint,
        description=str(doc.get("description", "")),
        schema=schema(doc.get("schema")),
        extensions=tuple(
            SchemaExtension(schema(e.get("schema")), bool(e.get("required", False)))
            for e in doc.get("schemaExtensions", ())
        ),
    )


def extend(rt: ResourceType, schema: Schema, *, required: bool = False) -> ResourceType:
    """``rt`` with one more extension schema (e.g. a company extension on User)."""
    if rt.extension(schema.id) is not None or schema.id.lower() == rt.schema.id.lower():
        raise InvalidValue(f"{rt.name} already has the schema '{schema.id}'.")
    return ResourceType(
        rt.id,
        rt.name,
        rt.endpoint,
        rt.description,
        rt.schema,
        (*rt.extensions, SchemaExtension(schema, required)),
    )


def unique_attribute(rt: ResourceType) -> str | None:
    """The top-level string attribute the store keeps unique per organization, compared
    case-insensitively (``userName``, group ``displayName``), if the type has one.

    Uniqueness is enforced by a unique index, never by a read-then-write check, and the
    stores index one such attribute per resource type. A declaration asking for more
    (a second unique attribute, one in an extension or a sub-attribute, a non-string
    or multi-valued one) is refused rather than silently not enforced.
    """
    declared = [
        (schema, attr, sub)
        for schema in rt.schemas()
        for attr in schema.attributes
        for sub in (None, *attr.sub_attributes)
        if (sub or attr).uniqueness is not Uniqueness.NONE
    ]
    if not declared:
        return None
    schema, attr, sub = declared[0]
    if (
        len(declared) > 1
        or schema is not rt.schema
        or sub is not None
        or attr.type is not AttributeType.STRING
        or attr.multi_valued
    ):
        names = ", ".join(f"{s.id}:{a.name}" + (f".{b.name}" if b else "") for s, a, b in declared)
        raise InvalidValue(
            f"{rt.name}: uniqueness can be enforced for one single-valued string attribute "
            f"of the core schema; declared on {names}."
        )
    return attr.name
