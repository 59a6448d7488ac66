"""Which attributes a response carries (RFC 7644 3.4.2.5, RFC 7643 2.2 ``returned``).

``attributes`` lists the only attributes to return (plus those returned ``always``);
``excludedAttributes`` removes attributes from the default set. ``returned: never``
attributes (``password``) are never emitted, and ``returned: request`` ones only when
named in ``attributes``. :func:`needs_relations` tells the service whether
``members``/``groups`` will be emitted at all, so that ``excludedAttributes=members``
never loads the members of a large group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidPath, InvalidValue
from .paths import ResolvedPath, resolve
from .schema.attributes import Attribute, ResourceType, Returned
from .schema.core import COMMON_ATTRIBUTES

Resource = dict[str, Any]


@dataclass(frozen=True)
class Projection:
    attributes: tuple[ResolvedPath, ...] = ()
    excluded: tuple[ResolvedPath, ...] = ()
    # What this projection keeps of each resource type, worked out on first use
    # (see :func:`project`): id(rt) -> (rt, plan).
    _plans: dict[int, tuple[ResourceType, _Plan]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

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
        if not attributes and not excluded:
            return DEFAULT  # shared, so its plans outlive the request
        return cls(_parse_list(rt, attributes, lenient), _parse_list(rt, excluded, lenient))

    def plan(self, rt: ResourceType) -> _Plan:
        """What this projection keeps of ``rt``'s attributes."""
        known = self._plans.get(id(rt))
        if known is not None and known[0] is rt:
            return known[1]
        main: list[tuple[str | None, bool, Attribute]] = [
            (None, False, a) for a in COMMON_ATTRIBUTES
        ]
        main += [(rt.schema.id, False, a) for a in rt.schema.attributes]
        extensions = []
        for e in rt.extensions:
            fields = _fields(self, [(e.schema.id, True, a) for a in e.schema.attributes])
            extensions.append((e.schema.id, _Plan(fields)))
        plan = _Plan(_fields(self, main), tuple(extensions))
        self._plans[id(rt)] = (rt, plan)
        return plan

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
    plan = projection.plan(rt)
    out: Resource = {"schemas": resource.get("schemas", [rt.schema.id])}
    plan.emit(resource, out)
    for schema_id, ext_plan in plan.extensions:
        sub = resource.get(schema_id)
        if isinstance(sub, dict):
            ext_out: Resource = {}
            ext_plan.emit(sub, ext_out)
            if ext_out:
                out[schema_id] = ext_out
    out["schemas"] = [s for s in out["schemas"] if s == rt.schema.id or s in out]
    return out


@dataclass(frozen=True)
class _SubFilter:
    """Which sub-attributes of a complex value are kept."""

    never: frozenset[str]
    dropped: frozenset[str]
    chosen: frozenset[str]
    whole: bool

    def keep(self, item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {
            k: v
            for k, v in item.items()
            if k not in self.never
            and k not in self.dropped
            and (self.whole or not self.chosen or k in self.chosen)
        }


@dataclass(frozen=True)
class _Field:
    """One attribute a projection emits: complex values are filtered by ``subs`` (when
    anything is to be taken out of them) and left out when that leaves them empty."""

    name: str
    complex: bool
    subs: _SubFilter | None


@dataclass(frozen=True)
class _Plan:
    """A projection worked out for one schema: the emitted attributes in order, and the
    plans of the extension schemas."""

    fields: tuple[_Field, ...]
    extensions: tuple[tuple[str, _Plan], ...] = ()
    by_name: dict[str, _Field] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def emit(self, source: Resource, out: Resource) -> None:
        """Copy what the projection keeps of ``source`` into ``out``. It walks the
        resource's own keys (a stored user has a handful of the schema's attributes)."""
        by_name = self.by_name
        for name, value in source.items():
            f = by_name.get(name)
            if f is None:
                continue  # not emitted (or an extension: see project)
            if f.complex and value is not None:
                if f.subs is not None:
                    value = (
                        [f.subs.keep(v) for v in value]
                        if isinstance(value, list)
                        else f.subs.keep(value)
                    )
                if value in ({}, []):
                    continue
            out[name] = value


def _fields(
    projection: Projection, attrs: Sequence[tuple[str | None, bool, Attribute]]
) -> tuple[_Field, ...]:
    """Part of :meth:`Projection.plan`: the attributes (schema id, whether in an
    extension, attribute) that ``projection`` emits, and how."""
    out = []
    for schema_id, ext, attr in attrs:
        path = ResolvedPath(schema_id, ext, attr)
        if not projection.includes(path):
            continue
        if not attr.is_complex:
            out.append(_Field(attr.name, False, None))
            continue
        chosen = frozenset(
            p.sub_attribute.name
            for p in projection.attributes
            if _same_attr(p, path) and p.sub_attribute is not None
        )
        whole = any(_same_attr(p, path) and p.sub_attribute is None for p in projection.attributes)
        dropped = frozenset(
            p.sub_attribute.name
            for p in projection.excluded
            if _same_attr(p, path) and p.sub_attribute is not None
        )
        never = frozenset(s.name for s in attr.sub_attributes if s.returned is Returned.NEVER)
        filtered = bool(never or dropped or (chosen and not whole))
        subs = _SubFilter(never, dropped, chosen, whole) if filtered else None
        out.append(_Field(attr.name, True, subs))
    return tuple(out)


DEFAULT = Projection()
