"""Turning client JSON into canonical resources, validated against the schema registry.

marshmallow does the type validation: for each resource type a marshmallow schema
is built once from the :class:`~scimcore.schema.attributes.Attribute` definitions,
so an extension schema declared as data is validated without new code. Before
marshmallow sees the body, attribute names are mapped onto their canonical
spelling (names are case-insensitive, RFC 7643 2.1), read-only attributes are
dropped (RFC 7644 3.3: "SHALL be ignored") and unknown attributes are ignored
(documented in docs/configuration.md: IdPs send extras, and ignoring them keeps
them working). After loading, the characteristics marshmallow cannot express are
checked: ``required``, ``canonicalValues`` and at most one ``primary`` per
multi-valued attribute (RFC 7643 2.4).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from ..compat import AUTO, Profile, boolean_from_string
from ..errors import InvalidSyntax, InvalidValue, Mutability
from .attributes import Attribute, AttributeType, ResourceType
from .attributes import Mutability as Mut
from .core import EXTERNAL_ID

Resource = dict[str, Any]


def canonical_datetime(value: datetime) -> str:
    """The one stored form of a dateTime: UTC with microseconds, so strings sort as instants."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 / xsd:dateTime string; naive values are taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _String(fields.Field[str]):
    default_error_messages = {"invalid": "Expected a string."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class _Boolean(fields.Field[bool]):
    """A JSON boolean (RFC 7643 2.3.2). Under rule ``entra.boolean-strings`` of
    ``profile`` the strings "true"/"false" in any case are accepted too, as Entra ID
    sends ``"False"`` for ``active`` unless the tenant opts into compliant PATCH."""

    default_error_messages = {"invalid": "Expected a boolean (true or false)."}

    def __init__(self, *, profile: Profile, **kw: Any) -> None:
        super().__init__(**kw)
        self.profile = profile

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> bool:
        if isinstance(value, bool):
            return value
        parsed = boolean_from_string(value, self.profile)
        if parsed is None:
            raise self.make_error("invalid")
        return parsed


class _Integer(fields.Field[int]):
    default_error_messages = {"invalid": "Expected an integer."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class _Decimal(fields.Field[float]):
    default_error_messages = {"invalid": "Expected a number."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return value


class _DateTime(fields.Field[str]):
    default_error_messages = {"invalid": "Expected an RFC 3339 date-time string."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return canonical_datetime(parse_datetime(value))
        except ValueError as exc:
            raise self.make_error("invalid") from exc


_SCALARS: dict[AttributeType, type[fields.Field[Any]]] = {
    AttributeType.STRING: _String,
    AttributeType.REFERENCE: _String,
    AttributeType.BINARY: _String,
    AttributeType.INTEGER: _Integer,
    AttributeType.DECIMAL: _Decimal,
    AttributeType.DATETIME: _DateTime,
}


def _writable(attr: Attribute) -> bool:
    return attr.mutability is not Mut.READ_ONLY


def _field(attr: Attribute, profile: Profile) -> fields.Field[Any]:
    inner: fields.Field[Any]
    if attr.is_complex:
        inner = fields.Nested(_complex_schema(attr.sub_attributes, profile), allow_none=True)
    elif attr.type is AttributeType.BOOLEAN:
        inner = _Boolean(allow_none=True, profile=profile)
    else:
        inner = _SCALARS[attr.type](allow_none=True)
    if attr.multi_valued:
        return fields.List(inner, allow_none=True)
    return inner


def _complex_schema(attrs: tuple[Attribute, ...], profile: Profile) -> type[Schema]:
    declared = {a.name: _field(a, profile) for a in attrs if _writable(a)}
    return Schema.from_dict(declared)


#: Built marshmallow schemas: (id(rt), profile) -> (rt, schema). Keyed by identity:
#: hashing a ResourceType hashes every attribute definition, on each write.
_SCHEMAS: dict[tuple[int, Profile], tuple[ResourceType, Schema]] = {}


def _resource_schema(rt: ResourceType, profile: Profile) -> Schema:
    """The marshmallow schema of ``rt``; built once per resource type and profile."""
    known = _SCHEMAS.get((id(rt), profile))
    if known is not None and known[0] is rt:
        return known[1]
    schema = _build_resource_schema(rt, profile)
    _SCHEMAS[(id(rt), profile)] = (rt, schema)
    return schema


def _build_resource_schema(rt: ResourceType, profile: Profile) -> Schema:
    declared: dict[str, fields.Field[Any]] = {
        a.name: _field(a, profile) for a in rt.schema.attributes if _writable(a)
    }
    declared[EXTERNAL_ID.name] = _field(EXTERNAL_ID, profile)
    # marshmallow reads dots in field names as nesting, so extension URNs (which
    # contain "2.0") are declared under a safe name and read via data_key.
    for n, ext in enumerate(rt.extensions):
        declared[f"_ext{n}"] = fields.Nested(
            _complex_schema(ext.schema.attributes, profile),
            allow_none=True,
            data_key=ext.schema.id,
        )
    return Schema.from_dict(declared)(unknown=EXCLUDE)


def _canonical(attrs: dict[str, Attribute], data: dict[str, Any]) -> dict[str, Any]:
    """Rename keys to their canonical attribute names; drop unknown and read-only ones."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        attr = attrs.get(key.lower())
        if attr is None or not _writable(attr):
            continue
        if attr.is_complex and value is not None:
            subs = {s.name.lower(): s for s in attr.sub_attributes}
            if attr.multi_valued and isinstance(value, list):
                value = [_canonical(subs, v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                value = _canonical(subs, value)
        out[attr.name] = value
    return out


def _top_level_index(rt: ResourceType) -> dict[str, Attribute]:
    index = {a.name.lower(): a for a in rt.schema.attributes}
    index[EXTERNAL_ID.name.lower()] = EXTERNAL_ID
    return index


def _prune(value: Any) -> Any:
    """Null and empty values mean "unassigned" (RFC 7643 2.5): remove them."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v not in (None, [], {})]
    return value


#: marshmallow's words for a value of the wrong JSON type; :func:`_describe` says which
#: type is expected instead, in the client's terms.
_NOT_AN_OBJECT = (
    Schema._default_error_messages["type"],
    fields.Nested.default_error_messages["type"],
)
_NOT_A_LIST = fields.List.default_error_messages["invalid"]


def _describe(rt: ResourceType, messages: Any) -> list[str]:
    """marshmallow's errors as sentences naming SCIM attributes (``name.givenName``,
    ``emails[0]``, ``urn:…:User:manager``), never marshmallow's own keys (``_schema``)."""
    top = {a.name: a for a in rt.schema.attributes}
    top[EXTERNAL_ID.name] = EXTERNAL_ID
    extensions = {e.schema.id: e.schema for e in rt.extensions}
    out: list[str] = []
    for key, sub in _items(messages):
        ext = extensions.get(key)
        if ext is None:
            out.extend(_describe_attribute(top.get(key), sub, key))
            continue
        for name, inner in _items(sub):
            if name == "_schema":
                out.append(f"Extension '{key}' must be a JSON object.")
                continue
            attr = next((a for a in ext.attributes if a.name == name), None)
            out.extend(_describe_attribute(attr, inner, f"{key}:{name}"))
    return out


def _items(messages: Any) -> list[tuple[Any, Any]]:
    return list(messages.items()) if isinstance(messages, dict) else [("_schema", messages)]


def _describe_attribute(attr: Attribute | None, messages: Any, label: str) -> list[str]:
    """Errors of one attribute: the whole value (a list), or its elements by index."""
    if isinstance(messages, list):
        return [_say(attr, m, label, whole=True) for m in messages if isinstance(m, str)]
    if attr is not None and attr.multi_valued and isinstance(messages, dict):
        out: list[str] = []
        for index, sub in messages.items():
            out.extend(_describe_value(attr, sub, f"{label}[{index}]"))
        return out
    return _describe_value(attr, messages, label)


def _describe_value(attr: Attribute | None, messages: Any, label: str) -> list[str]:
    """Errors of one value of ``attr`` (an element of a multi-valued one)."""
    if isinstance(messages, list):
        return [_say(attr, m, label, whole=False) for m in messages if isinstance(m, str)]
    out: list[str] = []
    for key, sub in _items(messages):
        if key == "_schema":
            out.extend(_describe_value(attr, sub, label))
            continue
        subs = attr.sub_attributes if attr is not None else ()
        inner = next((a for a in subs if a.name == key), None)
        out.extend(_describe_attribute(inner, sub, f"{label}.{key}"))
    return out


def _say(attr: Attribute | None, message: str, label: str, *, whole: bool) -> str:
    if attr is None:
        return f"Attribute '{label}': {message}"
    subs = [a.name for a in attr.sub_attributes if _writable(a)]
    shown = ", ".join(subs[:4]) + (", …" if len(subs) > 4 else "")
    if whole and attr.multi_valued and message == _NOT_A_LIST:
        kind = f"objects with sub-attributes ({shown})" if attr.is_complex else "values"
        return f"'{label}' must be a JSON array of {kind}."
    if attr.is_complex and message in _NOT_AN_OBJECT:
        return f"'{label}' must be a JSON object with sub-attributes ({shown})."
    return f"Attribute '{label}': {message}"


def check_schemas(rt: ResourceType, body: dict[str, Any]) -> list[str]:
    """Validate the ``schemas`` attribute (RFC 7643 3) and return it canonicalised."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise InvalidSyntax(
            f"The request body must have a 'schemas' list containing '{rt.schema.id}'."
        )
    known = {s.id.lower(): s.id for s in rt.schemas()}
    unknown = [s for s in schemas if s.lower() not in known]
    if unknown:
        raise InvalidSyntax(
            f"Unknown schema(s) {', '.join(repr(s) for s in unknown)} for a {rt.name}; "
            f"allowed: {', '.join(known.values())}."
        )
    if rt.schema.id.lower() not in {s.lower() for s in schemas}:
        raise InvalidSyntax(f"'schemas' must contain '{rt.schema.id}'.")
    return [known[s.lower()] for s in schemas]


def load_resource(rt: ResourceType, body: Any, profile: Profile = AUTO) -> Resource:
    """Validate a POST/PUT body and return the canonical resource (without id/meta).

    ``profile`` is the organization's IdP profile (:mod:`scimcore.compat`); rule
    ``entra.boolean-strings`` decides whether ``"True"``/``"False"`` are booleans.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("The request body must be a JSON object.")
    check_schemas(rt, body)
    data = _canonical(_top_level_index(rt), body)
    for key, value in body.items():
        ext = rt.extension(key) if key.lower().startswith("urn:") else None
        if ext is not None and value is not None:
            if not isinstance(value, dict):
                raise InvalidValue(f"Extension '{ext.id}' must be a JSON object.")
            data[ext.id] = _canonical({a.name.lower(): a for a in ext.attributes}, value)
    return validate(rt, data, profile)


def validate(rt: ResourceType, data: Resource, profile: Profile = AUTO) -> Resource:
    """Type-check a canonical resource and enforce required/canonical/primary rules.

    Used for POST/PUT bodies (after :func:`load_resource` canonicalised them) and for
    the result of a PATCH, so every write path passes through the same checks.
    """
    payload = {k: v for k, v in data.items() if k not in ("id", "meta", "schemas", "groups")}
    _check_value_counts(rt, payload)
    try:
        loaded = _resource_schema(rt, profile).load(payload)
    except ValidationError as exc:
        raise InvalidValue(" ".join(_describe(rt, exc.messages))) from exc
    for n, ext in enumerate(rt.extensions):
        if f"_ext{n}" in loaded:
            loaded[ext.schema.id] = loaded.pop(f"_ext{n}")
    resource: Resource = _prune(loaded)
    for schema in rt.schemas():
        is_ext = schema is not rt.schema
        scope = resource.get(schema.id, {}) if is_ext else resource
        for attr in schema.attributes:
            _check_attribute(attr, scope, f"{schema.id}:" if is_ext else "")
    resource["schemas"] = [rt.schema.id] + [
        e.schema.id for e in rt.extensions if e.schema.id in resource
    ]
    for key in ("id", "meta", "groups"):
        if key in data:
            resource[key] = data[key]
    return resource


def _check_value_counts(rt: ResourceType, data: Resource) -> None:
    """Refuse a multi-valued attribute with more than its ``max_values``, before
    marshmallow spends time on each of its values."""
    for schema_id, attr, prefix in _bounded_attributes(rt):
        scope = data.get(schema_id) if schema_id else data
        if isinstance(scope, dict):
            check_value_count(attr, scope.get(attr.name), prefix)


#: Per resource type (by identity, as :data:`_SCHEMAS`): its multi-valued attributes
#: with a bound, as (extension URN or None, attribute, prefix for a message).
_BOUNDED: dict[int, tuple[ResourceType, tuple[tuple[str | None, Attribute, str], ...]]] = {}


def _bounded_attributes(rt: ResourceType) -> tuple[tuple[str | None, Attribute, str], ...]:
    known = _BOUNDED.get(id(rt))
    if known is not None and known[0] is rt:
        return known[1]
    found = tuple(
        (
            schema.id if schema is not rt.schema else None,
            attr,
            "" if schema is rt.schema else f"{schema.id}:",
        )
        for schema in rt.schemas()
        for attr in schema.attributes
        if attr.multi_valued and attr.max_values is not None
    )
    _BOUNDED[id(rt)] = (rt, found)
    return found


def check_value_count(attr: Attribute, value: Any, prefix: str = "") -> None:
    """``invalidValue`` when ``value``, of multi-valued ``attr``, has too many values."""
    if attr.max_values is not None and isinstance(value, list) and len(value) > attr.max_values:
        raise InvalidValue(
            f"Attribute '{prefix}{attr.name}' has {len(value):,} values; "
            f"at most {attr.max_values:,} are allowed."
        )


def _check_attribute(attr: Attribute, scope: dict[str, Any], prefix: str) -> None:
    """Check ``scope[attr.name]``; canonical values are rewritten in canonical spelling."""
    value = scope.get(attr.name)
    name = f"{prefix}{attr.name}"
    if attr.required and attr.mutability is not Mut.READ_ONLY:
        if value is None or value == "":
            raise InvalidValue(f"Attribute '{name}' is required.")
        if isinstance(value, str) and not value.strip():
            # "   " is no userName (RFC 7643 4.1.1: "non-empty") and no group name either.
            raise InvalidValue(f"Attribute '{name}' is required and must not be blank.")
    if value is None:
        return
    items = value if attr.multi_valued else [value]
    if attr.multi_valued and attr.is_complex:
        primaries = [i for i in items if isinstance(i, dict) and i.get("primary") is True]
        if len(primaries) > 1:
            raise InvalidValue(
                f"Attribute '{name}' has more than one value with primary=true; "
                "at most one is allowed (RFC 7643 2.4)."
            )
    for item in items:
        if attr.is_complex and isinstance(item, dict):
            for sub in attr.sub_attributes:
                if sub.name in item:
                    _check_canonical(sub, item, f"{name}.")
    if attr.canonical_values and not attr.is_complex:
        canonical = [
            _check_canonical_value(attr, i, name) if isinstance(i, str) else i for i in items
        ]
        scope[attr.name] = canonical if attr.multi_valued else canonical[0]


def _check_canonical(sub: Attribute, item: dict[str, Any], prefix: str) -> None:
    if not sub.canonical_values or not isinstance(item.get(sub.name), str):
        return
    item[sub.name] = _check_canonical_value(sub, item[sub.name], f"{prefix}{sub.name}")


def _check_canonical_value(attr: Attribute, value: str, name: str) -> str:
    """Canonical values are matched case-insensitively and stored in canonical spelling."""
    for canonical in attr.canonical_values:
        if canonical.lower() == value.lower():
            return canonical
    raise InvalidValue(
        f"Attribute '{name}' has value '{value}'; expected one of "
        f"{', '.join(attr.canonical_values)}."
    )


def check_immutable(rt: ResourceType, old: Resource, new: Resource) -> None:
    """An immutable attribute may be set once but never changed (RFC 7643 2.2)."""
    for schema in rt.schemas():
        ext = schema is not rt.schema
        before = old.get(schema.id, {}) if ext else old
        after = new.get(schema.id, {}) if ext else new
        for attr in schema.attributes:
            old_value = before.get(attr.name)
            if attr.mutability is Mut.IMMUTABLE and old_value not in (None, after.get(attr.name)):
                raise Mutability(f"Attribute '{attr.name}' is immutable and cannot change.")
