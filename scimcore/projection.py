"""Which attributes a response carries (RFC 7644 3.4.2.5, RFC 7643 2.2 ``returned``).

``attributes`` lists the only attributes to return (plus those returned ``always``);
``excludedAttributes`` removes attributes from the default set. ``returned: never``
attributes (``password``) are never emitted, and ``returned: request`` ones only when
named in ``attributes``. :func:`needs_relations` tells the service whether
``members``/``groups`` will be emitted at all, so that ``excludedAttributes=members``
never loads the members of a large group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidPath, InvalidValue
from .paths import ResolvedPath, resolve
from .schema.attributes import Attribute, ResourceType, Returned, Schema
from .schema.core import COMMON_ATTRIBUTES

Resource = dict[str, Any]


@dataclass(frozen=True)
class Projection:
    attributes: tuple[ResolvedPath, ...] = ()
    excluded: tuple[ResolvedPath, ...] = ()

    @classmethod
    def parse(
        cls,
        rt: ResourceType,
        attributes: str | None,
        excluded: str | None,
        *,
        lenient: bool = False,
    ) -> Projection:
        """Parse the comma-separated query parameters; unknown names are 400 invalidValue.

        ``lenient`` skips names ``rt`` does not define: a search at the service root
        spans every resource type (RFC 7644 3.4.3), and ``members`` only means
        something for Groups.
        """
        return cls(_parse_list(rt, attributes, lenient), _parse_list(rt, excluded, lenient))

    def includes(self, path: ResolvedPath) -> bool:
        """Whether ``path`` (a top-level attribute) is emitted under this projection."""
        attr = path.attribute
        if attr.returned is Returned.NEVER:
            return False
        if attr.returned is Returned.ALWAYS:
            return True
        if self.attributes:
            return any(_same_attr(p, path) for p in self.attributes)
        if attr.returned is Returned.REQUEST:
            return False
        return not any(_same_attr(p, path) and p.sub_attribute is None for p in self.excluded)


def _same_attr(a: ResolvedPath, b: ResolvedPath) -> bool:
    return a.schema_id == b.schema_id and a.attribute.name == b.attribute.name


def _parse_list(rt: ResourceType, text: str | None, lenient: bool) -> tuple[ResolvedPath, ...]:
    if not text:
        return ()
    out = []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        try:
            out.append(resolve(rt, name))
        except InvalidPath as exc:
            if not lenient:
                raise InvalidValue(f"{exc.detail} (in attributes/excludedAttributes)") from exc
    return tuple(out)


def needs_relations(rt: ResourceType, projection: Projection, relation: str) -> bool:
    """Whether the computed multi-valued attribute ``relation`` will be returned."""
    attr = rt.schema.attribute(relation)
    if attr is None:
        return False
    return projection.includes(ResolvedPath(rt.schema.id, False, attr))


def project(rt: ResourceType, resource: Resource, projection: Projection) -> Resource:
    """Return a new dict holding only what the client may and asked to see."""
    out: Resource = {"schemas": resource.get("schemas", [rt.schema.id])}
    for common in COMMON_ATTRIBUTES:
        _emit(out, resource, None, False, common, projection)
    _emit_schema(out, resource, rt.schema, False, projection)
    for ext in rt.extensions:
        sub = resource.get(ext.schema.id)
        if isinstance(sub, dict):
            ext_out: Resource = {}
            _emit_schema(ext_out, sub, ext.schema, True, projection)
            if ext_out:
                out[ext.schema.id] = ext_out
    out["schemas"] = [s for s in out["schemas"] if s == rt.schema.id or s in out]
    return out


def _emit_schema(
    out: Resource, source: Resource, schema: Schema, ext: bool, projection: Projection
) -> None:
    for attr in schema.attributes:
        _emit(out, source, schema.id, ext, attr, projection)


def _emit(
    out: Resource,
    source: Resource,
    schema_id: str | None,
    ext: bool,
    attr: Attribute,
    projection: Projection,
) -> None:
    if attr.name not in source:
        return
    path = ResolvedPath(schema_id, ext, attr)
    if not projection.includes(path):
        return
    value = source[attr.name]
    if attr.is_complex and value is not None:
        value = _filter_subs(path, value, projection)
        if value in ({}, []):
            return
    out[attr.name] = value


def _filter_subs(path: ResolvedPath, value: Any, projection: Projection) -> Any:
    """Apply sub-attribute selections (``name.givenName``) and ``returned`` of sub-attributes."""
    chosen = [
        p.sub_attribute.name
        for p in projection.attributes
        if _same_attr(p, path) and p.sub_attribute is not None
    ]
    whole = any(_same_attr(p, path) and p.sub_attribute is None for p in projection.attributes)
    dropped = {
        p.sub_attribute.name
        for p in projection.excluded
        if _same_attr(p, path) and p.sub_attribute is not None
    }
    never = {s.name for s in path.attribute.sub_attributes if s.returned is Returned.NEVER}

    def keep(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {
            k: v
            for k, v in item.items()
            if k not in never and k not in dropped and (whole or not chosen or k in chosen)
        }

    if isinstance(value, list):
        return [keep(v) for v in value]
    return keep(value)
