"""Applying PATCH operations to a resource (RFC 7644 3.5.2.1-3.5.2.3).

The engine works on a deep copy and raises on the first failing operation, so a
PATCH is all-or-nothing (RFC 7644 3.5.2: "If any operation fails ... the
original resource is unchanged"). Group members never enter the resource: they
become :class:`~scimcore.patch.members.MemberChanges`.

Semantics, per operation and target (see the package docstring for tolerances):

=========  ===========================  ==========================================
op         target                       effect
=========  ===========================  ==========================================
add        single-valued simple         set
add        single-valued complex        merge sub-attribute by sub-attribute
add        multi-valued                 append new elements (exact duplicates skipped)
add        ``attr[filter].sub``         set ``sub`` on matches; none: create from filter
replace    single-valued                as add (complex: merge, RFC 7644 3.5.2.3)
replace    multi-valued                 replace the whole list
replace    ``attr[filter]``             replace matching elements; none: noTarget
replace    ``attr[filter].sub``         set ``sub`` on matches; none: create from filter
remove     attribute / sub-attribute    unassign (absent already: no-op)
remove     ``attr[filter][.sub]``       drop matching elements (or their ``sub``)
=========  ===========================  ==========================================

One module, though long: the table above is implemented case by case, and the
value-filter budget that bounds it is part of applying each operation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..compat import (
    AUTO,
    CREATE_MISSING_TYPED_VALUE,
    DOTTED_PATCH_KEYS,
    READ_ONLY_IN_PATCH_VALUE,
    Profile,
)
from ..errors import InvalidPath, InvalidValue, NoTarget, TooMany
from ..errors import Mutability as MutabilityError
from ..filters.nodes import comparisons
from ..paths import ResolvedPath, split_schema_urn
from ..schema.attributes import Attribute, Mutability, ResourceType
from ..schema.core import GROUP_SCHEMA
from ..schema.serializers import check_value_count
from .members import MemberChanges, MemberLedger, member_dict, members_from_value
from .request import OpName, PatchOperation
from .targets import (
    Target,
    element_matches,
    filter_template,
    member_ids,
    names_attribute,
    parse_target,
)
from .values import (
    coerce_complex,
    coerce_many,
    coerce_one,
    coerce_simple,
    compact,
    distinct,
    is_blank,
    is_unassigned,
    is_vacant,
    same_value,
)


@dataclass(frozen=True)
class PatchResult:
    """The outcome of :func:`apply_patch`.

    ``resource`` is a new dict (the input is never mutated); ``members`` are the
    Group membership changes for the store; ``changed`` is false when the
    operations changed nothing (RFC 7644 3.5.2.1: adding a value already present
    "SHOULD" make no change).
    """

    resource: dict[str, Any]
    members: MemberChanges
    changed: bool


#: Most comparisons the value filters of one request (``emails[type eq "work"]``,
#: ``members[type eq "Group"]``) may make, all its operations together: each element
#: tested costs as many comparisons as the filter holds. Without a bound a 1 MB body of
#: filtered operations (many operations, each with many comparisons, over many
#: emails) held a thread for most of a minute. This keeps any request's filters near a
#: second, and lets a one-comparison filter run over a group of 100,000 members.
MAX_FILTER_COMPARISONS = 100_000

_E = TypeVar("_E")


@dataclass
class FilterBudget:
    """How many more elements value filters may test for one request. A Bulk request's
    operations share one, so a thousand PATCHes in one body cannot each spend it."""

    remaining: int = MAX_FILTER_COMPARISONS

    def spend(self, count: int, path: str) -> None:
        self.remaining -= count
        if self.remaining < 0:
            raise TooMany(
                f"This request's value filters ('{path}') would make more than "
                f"{MAX_FILTER_COMPARISONS:,} comparisons in all (each element tested "
                "costs one per comparison in the filter); send its operations in several "
                "requests, or use simpler filters."
            )


def apply_patch(
    rt: ResourceType,
    resource: dict[str, Any],
    operations: Sequence[PatchOperation],
    *,
    load_members: Callable[[], list[dict[str, Any]]] | None = None,
    profile: Profile = AUTO,
    budget: FilterBudget | None = None,
) -> PatchResult:
    """Apply ``operations`` in order to ``resource`` of type ``rt`` (RFC 7644 3.5.2).

    ``load_members`` returns the group's current members (``value``/``type``/
    ``display`` dicts); it is called at most once, and only for member filters
    other than ``value eq`` (e.g. ``members[type eq "Group"]``). ``profile`` is the
    organization's IdP profile (:mod:`scimcore.compat`): which IdP quirks to
    tolerate. ``budget`` bounds the elements value filters may test (a new
    :class:`FilterBudget` when not given). Any error is a
    :class:`~scimcore.errors.ScimError` and leaves nothing applied.
    """
    engine = _Engine(rt, resource, load_members, profile, budget or FilterBudget())
    for operation in operations:
        engine.apply(operation)
    changes = engine.ledger.changes()
    return PatchResult(engine.doc, changes, engine.doc != resource or bool(changes))


class _Engine:
    def __init__(
        self,
        rt: ResourceType,
        resource: dict[str, Any],
        load_members: Callable[[], list[dict[str, Any]]] | None,
        profile: Profile,
        budget: FilterBudget,
    ) -> None:
        self.rt = rt
        self.profile = profile
        self.doc: dict[str, Any] = copy.deepcopy(resource)
        self.ledger = MemberLedger(load_members)
        self.budget = budget

    # -- dispatch --------------------------------------------------------------

    def apply(self, op: PatchOperation) -> None:
        if op.path is None:
            if op.op == "remove":
                raise NoTarget("A 'remove' operation needs a 'path' (RFC 7644 3.5.2.2).")
            self._apply_object(op.op, op.value, None)
            return
        schema = split_schema_urn(self.rt, op.path.strip())
        if schema is not None and not schema[1]:
            self._apply_schema(op, schema[0])
            return
        target = parse_target(self.rt, op.path, self.profile)
        for attr in (target.attribute, target.sub):
            if attr is not None and attr.mutability is Mutability.READ_ONLY:
                raise MutabilityError(f"'{target.text}' is read-only and cannot be modified.")
        self._dispatch(op.op, target, op.value)

    def _dispatch(self, op: OpName, target: Target, value: Any) -> None:
        if self._is_members(target):
            self._members(op, target, value)
        elif op == "remove":
            self._remove(target, value)
        else:
            self._write(op, target, value)

    def _apply_object(self, op: OpName, value: Any, schema_id: str | None) -> None:
        """No path (or a schema URN as path): ``value`` is a set of attributes.

        RFC 7644 3.5.2.1/3.5.2.3. Each key is handled as if it were the path of its
        own operation. Rules of the profile checked here:

        * ``entra.dotted-patch-keys``: keys that are paths (``name.givenName``,
          ``urn:...:enterprise:2.0:User:employeeNumber``); off, ``invalidPath``.
        * ``okta.read-only-in-patch-value``: read-only attributes (``id``, ``meta``,
          ``groups``) are ignored, as clients echo them (Okta sends ``id`` when
          renaming a group); off, ``mutability`` (RFC 7644 3.5.2).

        ``schemas`` is always ignored: it is the message's, not an attribute.
        """
        if not isinstance(value, dict):
            raise InvalidValue(
                f"Without a 'path', '{op}' needs a 'value' object of attributes "
                "(RFC 7644 3.5.2.1, 3.5.2.3)."
            )
        for raw_key, item in value.items():
            key = str(raw_key)
            if key.lower() == "schemas":
                continue
            if schema_id is None:
                nested = split_schema_urn(self.rt, key)
                if nested is not None and not nested[1]:
                    self._apply_object(op, item, nested[0])
                    continue
                text = key
            else:
                text = f"{schema_id}:{key}"
            if any(c in key for c in ".:[") and not self.profile.allows(DOTTED_PATCH_KEYS):
                raise InvalidPath(
                    f"'{key}' in a no-path '{op}' value is a path, not an attribute name "
                    "(RFC 7644 3.5.2.1, 3.5.2.3): give the path in 'path', or nest the "
                    f"value as an object (IdP profile '{self.profile.key}')."
                )
            if not names_attribute(self.rt, text):
                continue  # an unknown attribute in a value is ignored, as in a POST body
            target = parse_target(self.rt, text, self.profile)
            if any(
                a is not None and a.mutability is Mutability.READ_ONLY
                for a in (target.attribute, target.sub)
            ):
                if self.profile.allows(READ_ONLY_IN_PATCH_VALUE):
                    continue
                raise MutabilityError(
                    f"'{key}' is read-only and cannot be modified (RFC 7644 3.5.2; IdP "
                    f"profile '{self.profile.key}')."
                )
            self._dispatch(op, target, item)

    def _apply_schema(self, op: PatchOperation, schema_id: str) -> None:
        """A path that is a schema URN names that schema's attributes as a whole."""
        if op.op != "remove":
            self._apply_object(op.op, op.value, schema_id)
            return
        extension = next((e for e in self.rt.extensions if e.schema.id == schema_id), None)
        if extension is None:
            raise InvalidPath(f"'{op.path}' names the core schema, which cannot be removed.")
        if extension.required and schema_id in self.doc:
            raise MutabilityError(f"The extension '{schema_id}' is required.")
        self.doc.pop(schema_id, None)

    # -- add / replace ---------------------------------------------------------

    def _write(self, op: OpName, target: Target, value: Any) -> None:
        attr = target.attribute
        if target.whole:
            self._write_whole(op, target, value)
        elif attr.multi_valued:
            self._write_elements(op, target, value)
        else:
            assert target.sub is not None
            self._merge_single(target, {target.sub.name: value})

    def _write_whole(self, op: OpName, target: Target, value: Any) -> None:
        attr, path, label = target.attribute, target.path, target.text
        if attr.multi_valued:
            incoming = coerce_many(attr, value, label, self.profile)
            if op == "replace":
                self._assign(path, incoming)
                return
            elements = self._list(path)
            first_new = len(elements)
            elements += distinct(incoming, elements)
            self._settle_primary(attr, elements, range(first_new, len(elements)), label)
            self._assign(path, elements)
        elif is_blank(value, self.profile):
            self._assign(path, None)
        elif attr.is_complex and isinstance(value, str):
            # A bare string names the whole value: {"value": ...} replaces the old one
            # (rule entra.manager-bare-string, checked in coerce_complex).
            self._assign(path, coerce_one(attr, value, label, self.profile))
        elif attr.is_complex:
            self._merge_single(target, value)
        else:
            self._assign(path, coerce_simple(attr, value, label, self.profile))

    def _merge_single(self, target: Target, value: Any) -> None:
        attr = target.attribute
        incoming = coerce_complex(attr, value, target.text, self.profile)
        current = self._get(target.path)
        merged = self._merge(attr, current if isinstance(current, dict) else {}, incoming, target)
        self._assign(target.path, None if is_vacant(attr, merged) else merged)

    def _write_elements(self, op: OpName, target: Target, value: Any) -> None:
        attr, label = target.attribute, target.text
        elements = self._list(target.path)
        hits = [i for i, e in enumerate(self._scan(target, elements)) if element_matches(target, e)]
        patch = {target.sub.name: value} if target.sub is not None else value
        incoming = coerce_complex(attr, patch, label, self.profile)
        if not hits:
            template = filter_template(target, self.profile)
            if template is None or (
                op == "replace"
                and not (
                    self.profile.allows(CREATE_MISSING_TYPED_VALUE)
                    and _typed_slot(target, template)
                )
            ):
                raise NoTarget(f"No value of '{attr.name}' matches '{label}' (RFC 7644 3.5.2.3).")
            created = compact({**template, **incoming})
            if is_vacant(attr, created):
                return
            elements.append(created)
            hits = [len(elements) - 1]
        else:
            for i in hits:
                if op == "replace" and target.sub is None:
                    elements[i] = compact(incoming)
                else:
                    elements[i] = self._merge(attr, elements[i], incoming, target)
        self._settle_primary(attr, elements, hits, label)
        touched = set(hits)
        self._assign(
            target.path,
            [e for i, e in enumerate(elements) if i not in touched or not is_vacant(attr, e)],
        )

    # -- remove ----------------------------------------------------------------

    def _remove(self, target: Target, value: Any) -> None:
        """RFC 7644 3.5.2.2; removing what is not there is a no-op."""
        attr, path = target.attribute, target.path
        if target.whole:
            if attr.multi_valued and not is_unassigned(value):
                self._remove_listed(target, value)
            else:
                self._assign(path, None)
            return
        assert target.sub is not None or target.filter is not None
        if not attr.multi_valued:
            assert target.sub is not None
            current = self._get(path)
            if not isinstance(current, dict) or target.sub.name not in current:
                return
            if target.sub.required:
                raise MutabilityError(f"'{target.text}' is required and cannot be removed.")
            merged = self._merge(attr, current, {target.sub.name: None}, target)
            self._assign(path, None if is_vacant(attr, merged) else merged)
            return
        kept: list[Any] = []
        for element in self._scan(target, self._list(path)):
            if element_matches(target, element):
                if target.sub is None:
                    continue
                element = self._merge(attr, element, {target.sub.name: None}, target)
                if is_vacant(attr, element):
                    continue
            kept.append(element)
        self._assign(path, kept)

    def _remove_listed(self, target: Target, value: Any) -> None:
        """``remove`` with a path and a ``value`` array: remove those elements.

        Entra ID's default mode removes group members this way; it is accepted for
        any multi-valued attribute. A listed object matches an element when every
        sub-attribute it gives is equal (RFC 7643 2.3 equality).
        """
        attr, label = target.attribute, target.text
        listed = [
            coerce_one(attr, v, label, self.profile)
            for v in (value if isinstance(value, list) else [value])
        ]

        def listed_element(element: Any) -> bool:
            for item in listed:
                if not attr.is_complex:
                    if same_value(attr, item, element):
                        return True
                elif isinstance(element, dict) and all(
                    same_value(attr.sub(k) or attr, v, element.get(k)) for k, v in item.items()
                ):
                    return True
            return False

        self._assign(target.path, [e for e in self._list(target.path) if not listed_element(e)])

    # -- group members ---------------------------------------------------------

    def _is_members(self, target: Target) -> bool:
        return (
            self.rt.schema.id == GROUP_SCHEMA
            and not target.path.extension
            and target.attribute.name == "members"
        )

    def _members(self, op: OpName, target: Target, value: Any) -> None:
        attr, label = target.attribute, target.text
        if target.sub is not None:
            raise MutabilityError(
                f"'{label}': a member's sub-attributes are immutable; remove the member "
                "and add it again."
            )
        if op == "add":
            if target.filter is not None:
                raise InvalidPath(f"'{label}': add members with the path 'members'.")
            self.ledger.add(members_from_value(attr, value, label, self.profile))
        elif op == "replace":
            members = members_from_value(attr, value, label, self.profile)
            if target.filter is None:
                self.ledger.replace(members)
                return
            matched = self._matching_members(target)
            if not matched:
                raise NoTarget(f"No member matches '{label}' (RFC 7644 3.5.2.3).")
            self.ledger.remove(matched)
            self.ledger.add(members)
        elif target.filter is not None:
            self.ledger.remove(self._matching_members(target))
        elif not is_unassigned(value):
            self.ledger.remove(
                [m.value for m in members_from_value(attr, value, label, self.profile)]
            )
        else:
            self.ledger.replace([])

    def _matching_members(self, target: Target) -> list[str]:
        assert target.filter is not None
        ids = member_ids(target.filter)
        if ids is not None:
            return ids
        current = self._scan(target, self.ledger.current())
        return [m.value for m in current if element_matches(target, member_dict(m))]

    def _scan(self, target: Target, elements: list[_E]) -> list[_E]:
        """``elements``, spent from the budget when a value filter is about to test
        each of them (the filter's comparisons, for each element)."""
        if target.filter is not None:
            self.budget.spend(len(elements) * comparisons(target.filter), target.text)
        return elements

    # -- shared helpers --------------------------------------------------------

    def _merge(
        self, attr: Attribute, base: dict[str, Any], incoming: dict[str, Any], target: Target
    ) -> dict[str, Any]:
        """Sub-attribute by sub-attribute; ``None`` unassigns. Immutable ones may only be set."""
        out = dict(base)
        for name, value in incoming.items():
            sub = attr.sub(name)
            old = out.get(name)
            immutable = sub is not None and sub.mutability is Mutability.IMMUTABLE
            if immutable and old is not None and value != old:
                raise MutabilityError(f"'{attr.name}.{name}' is immutable ({target.text}).")
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    @staticmethod
    def _settle_primary(
        attr: Attribute, elements: list[Any], touched: Sequence[int], label: str
    ) -> None:
        """RFC 7643 2.4: a value written as primary demotes the previous primary."""
        if attr.sub("primary") is None:
            return
        winners = [
            i
            for i in touched
            if isinstance(elements[i], dict) and elements[i].get("primary") is True
        ]
        if len(winners) > 1:
            raise InvalidValue(f"At most one element of '{label}' may be primary (RFC 7643 2.4).")
        if not winners:
            return
        for i, element in enumerate(elements):
            if i != winners[0] and isinstance(element, dict) and element.get("primary") is True:
                elements[i] = {**element, "primary": False}

    def _container(self, path: ResolvedPath, *, create: bool) -> dict[str, Any] | None:
        if not (path.extension and path.schema_id):
            return self.doc
        container = self.doc.get(path.schema_id)
        if not isinstance(container, dict):
            if not create:
                return None
            container = self.doc[path.schema_id] = {}
        return container

    def _get(self, path: ResolvedPath) -> Any:
        container = self._container(path, create=False)
        return None if container is None else container.get(path.attribute.name)

    def _list(self, path: ResolvedPath) -> list[Any]:
        current = self._get(path)
        if current is None:
            return []
        return list(current) if isinstance(current, list) else [current]

    def _assign(self, path: ResolvedPath, value: Any) -> None:
        """Write or unassign one attribute, enforcing required and immutable (RFC 7644 3.5.2)."""
        attr = path.attribute
        current = self._get(path)
        if is_unassigned(value):
            if is_unassigned(current):
                return
            if attr.required:
                raise MutabilityError(
                    f"'{path}' is required and cannot be removed (RFC 7644 3.5.2.2)."
                )
            if attr.mutability is Mutability.IMMUTABLE:
                raise MutabilityError(f"'{path}' is immutable and cannot be removed.")
            container = self._container(path, create=False)
            assert container is not None
            del container[attr.name]
            if container is not self.doc and not container and path.schema_id:
                del self.doc[path.schema_id]
            return
        if value == current:
            return
        check_value_count(attr, value, f"{path.schema_id}:" if path.extension else "")
        if attr.mutability is Mutability.IMMUTABLE and not is_unassigned(current):
            raise MutabilityError(f"'{path}' is immutable and already has a value.")
        container = self._container(path, create=True)
        assert container is not None
        container[attr.name] = value


def _typed_slot(target: Target, template: dict[str, Any]) -> bool:
    """Whether a replace that matched nothing may create the element it names.

    RFC 7644 3.5.2.3 makes a replace whose filter matches nothing ``noTarget``. Entra
    ID sends ``Replace emails[type eq "work"].value`` for a user who has no work email
    yet and expects it to be set, so under rule ``entra.create-missing-typed-value``
    (checked by the caller) exactly that shape is tolerated: a
    filter that only selects the ``type`` "slot", with a sub-attribute other than
    ``type`` to write. Any other filter (``emails[value eq "x"].type``) stays noTarget.
    """
    return target.sub is not None and target.sub.name != "type" and set(template) == {"type"}
