"""The in-memory reference :class:`~scimcore.storage.base.Store`.

Small and obviously correct rather than fast: a session holds the store's lock for
its whole duration, works on a copy of its organization's state and swaps the copy
in only when the ``with`` block exits normally, so an exception leaves nothing
half-written. Filtering is :func:`scimcore.filters.matches`; sorting and paging follow
the same rules as the SQL store (see :func:`sort_value`), so the two can be compared
result for result.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..compat import canonical_profile_name
from ..errors import InvalidValue, NotFound, PreconditionFailed, Uniqueness
from ..filters import matches
from ..paths import ResolvedPath
from ..provisioning.events import NewEvent
from ..schema.attributes import AttributeType, ResourceType
from ..schema.core import GROUP_RESOURCE, USER_RESOURCE
from ..schema.declare import unique_attribute
from .base import (
    Keyset,
    Member,
    Organization,
    Page,
    Query,
    Resource,
    TokenInfo,
    comes_after,
)

_STRINGY = (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY)
_NUMERIC = (AttributeType.INTEGER, AttributeType.DECIMAL)
_RELATIONS = ("members", "groups")
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def sort_value(resource: Resource, path: ResolvedPath) -> Any:
    """The value a resource sorts by for ``path``; ``None`` sorts last ascending.

    Strings are lowered unless caseExact; a value of the wrong JSON type counts as
    absent; a multi-valued attribute sorts by its primary element, else its first.
    Relations (``members``, ``groups``) and complex values have no sort value.
    """
    keys = path.keys
    if not path.extension and path.schema_id is not None and keys[0] in _RELATIONS:
        return None
    node: Any = resource
    if path.attribute.multi_valued:
        array_keys = keys[:-1] if path.sub_attribute else keys
        for key in array_keys:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list) or not node:
            return None
        primary = [e for e in node if isinstance(e, dict) and e.get("primary") is True]
        node = primary[0] if primary else node[0]
        keys = keys[len(array_keys) :]
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    d = path.definition
    if d.type in _STRINGY:
        return (node if d.case_exact else node.lower()) if isinstance(node, str) else None
    if d.type is AttributeType.DATETIME:
        return node if isinstance(node, str) else None
    if d.type in _NUMERIC:
        return node if isinstance(node, int | float) and not isinstance(node, bool) else None
    if d.type is AttributeType.BOOLEAN:
        return node if isinstance(node, bool) else None
    return None


@dataclass
class _OrgState:
    """One organization's resources: ``resources[type][id]`` and ``members[group_id]``."""

    resources: dict[str, dict[str, Resource]] = field(default_factory=dict)
    # group id -> {member id: (member resource type, display the client sent or None)}
    members: dict[str, dict[str, tuple[str, str | None]]] = field(default_factory=dict)
    # The outbox: events recorded by sessions that committed (scimcore.provisioning).
    events: list[NewEvent] = field(default_factory=list)


@dataclass
class _Token:
    organization_id: str
    token_hash: str
    prefix: str
    status: str
    created: datetime
    last_used: datetime | None = None

    def info(self) -> TokenInfo:
        return TokenInfo(
            self.organization_id,
            self.prefix,
            self.status,  # type: ignore[arg-type]
            self.created,
            self.last_used,
        )


class MemorySession:
    """A transaction on a private copy of one organization's state."""

    def __init__(self, state: _OrgState, names: dict[str, str | None]) -> None:
        self.state = state
        self.names = names

    def _table(self, resource_type: str) -> dict[str, Resource]:
        if resource_type not in self.names:
            raise InvalidValue(f"Unknown resource type '{resource_type}'.")
        return self.state.resources.setdefault(resource_type, {})

    def _stored(self, resource_type: str, id: str) -> Resource:
        found = self._table(resource_type).get(id)
        if found is None:
            raise NotFound(f"{resource_type} '{id}' not found.")
        return found

    def _check_unique(self, resource_type: str, resource: Resource) -> None:
        attr = self.names[resource_type]
        if attr is None:
            return
        name = resource.get(attr)
        if not isinstance(name, str):
            raise InvalidValue(f"The {resource_type} needs a string '{attr}'.")
        for other in self._table(resource_type).values():
            if other["id"] != resource["id"] and str(other.get(attr)).lower() == name.lower():
                raise Uniqueness(f"{attr} '{name}' is already taken in this organization.")

    def _view(
        self,
        resource_type: str,
        stored: Resource,
        relations: bool,
        groups_of: dict[str, list[str]] | None = None,
    ) -> Resource:
        out = copy.deepcopy(stored)
        if not relations:
            return out
        if resource_type == "Group":
            members = self.state.members.get(stored["id"], {})
            entries = [
                {"value": mid, "type": mtype, "display": given or self._display(mid, mtype)}
                for mid, (mtype, given) in members.items()
            ]
            if entries:
                out["members"] = sorted(entries, key=lambda m: m["value"])
        else:
            if groups_of is None:
                groups_of = self._groups_index()
            gids = groups_of.get(stored["id"], [])
            if gids:
                groups = self._table("Group")
                out["groups"] = [
                    {"value": gid, "display": groups[gid]["displayName"], "type": "direct"}
                    for gid in sorted(gids)
                ]
        return out

    def _display(self, member_id: str, member_type: str) -> Any:
        res = self._table(member_type)[member_id]
        display = res.get("displayName")
        if isinstance(display, str) and display:
            return display
        attr = self.names.get(member_type)
        return res.get(attr) if attr else None

    def _groups_index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for gid, members in self.state.members.items():
            for mid in members:
                index.setdefault(mid, []).append(gid)
        return index

    # -- the StoreSession protocol ------------------------------------------------------

    def get(
        self, resource_type: str, id: str, *, relations: bool = True, for_update: bool = False
    ) -> Resource:
        return self._view(resource_type, self._stored(resource_type, id), relations)

    def insert(self, resource_type: str, resource: Resource) -> None:
        table = self._table(resource_type)
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            raise InvalidValue(f"The {resource_type} has no id.")
        if any(rid in t for t in self.state.resources.values()):
            raise Uniqueness(f"id '{rid}' is already taken.")
        self._check_unique(resource_type, resource)
        members = resource.get("members") if resource_type == "Group" else None
        parsed = [
            Member(m["value"], m.get("type") or "User", m.get("display") or None)
            if isinstance(m, dict)
            else m
            for m in members or []
        ]
        self._check_members([m.value for m in parsed])
        table[rid] = copy.deepcopy({k: v for k, v in resource.items() if k not in _RELATIONS})
        if resource_type == "Group":
            self.state.members[rid] = {}
            self._add(rid, parsed)

    def update(
        self, resource_type: str, resource: Resource, *, expected_version: str | None = None
    ) -> None:
        stored = self._stored(resource_type, resource["id"])
        if expected_version is not None and stored.get("meta", {}).get("version") != (
            expected_version
        ):
            raise PreconditionFailed(
                f"{resource_type} '{resource['id']}' has changed: its version is no longer "
                f"{expected_version}."
            )
        self._check_unique(resource_type, resource)
        self._table(resource_type)[resource["id"]] = copy.deepcopy(
            {k: v for k, v in resource.items() if k not in _RELATIONS}
        )

    def delete(self, resource_type: str, id: str) -> None:
        self._stored(resource_type, id)
        del self._table(resource_type)[id]
        self.state.members.pop(id, None)
        for members in self.state.members.values():
            members.pop(id, None)

    def query(self, resource_type: str, query: Query) -> Page:
        groups_of = self._groups_index() if resource_type == "User" else None
        candidates = sorted(self._table(resource_type).values(), key=lambda r: r["id"])
        if query.filter is not None:
            f = query.filter
            candidates = [
                r for r in candidates if matches(f, self._view(resource_type, r, True, groups_of))
            ]
        total = len(candidates)
        first = query.keyset or query.start_index <= 1
        if query.filter is not None and query.total_limit is not None and first:
            total = min(total, query.total_limit)
        if query.count <= 0:
            return Page(total=total)
        if query.sort is not None:
            path, desc = query.sort.path, query.sort.descending
            present = [r for r in candidates if sort_value(r, path) is not None]
            absent = [r for r in candidates if sort_value(r, path) is None]
            present.sort(key=lambda r: sort_value(r, path), reverse=desc)
            candidates = absent + present if desc else present + absent
        if query.keyset:
            return self._keyset_page(resource_type, query, candidates, total, groups_of)
        start = max(query.start_index, 1) - 1
        page = candidates[start : start + query.count]
        return Page(total, [self._view(resource_type, r, query.relations, groups_of) for r in page])

    def _keyset_page(
        self,
        resource_type: str,
        query: Query,
        ordered: list[Resource],
        total: int,
        groups_of: dict[str, list[str]] | None,
    ) -> Page:
        sort = query.sort

        def key(r: Resource) -> Any:
            return sort_value(r, sort.path) if sort is not None else None

        after = query.after
        rows = [r for r in ordered if after is None or comes_after(key(r), r["id"], after, sort)]
        page = rows[: query.count]
        more = len(rows) > query.count
        return Page(
            total,
            [self._view(resource_type, r, query.relations, groups_of) for r in page],
            Keyset(key(page[-1]), page[-1]["id"]) if more and page else None,
        )

    def add_members(self, group_id: str, members: Sequence[Member]) -> None:
        self._stored("Group", group_id)
        self._check_members([m.value for m in members])
        self._add(group_id, members)

    def remove_members(self, group_id: str, values: Sequence[str]) -> None:
        self._stored("Group", group_id)
        current = self.state.members.setdefault(group_id, {})
        for value in values:
            current.pop(value, None)

    def replace_members(self, group_id: str, members: Sequence[Member]) -> None:
        self._stored("Group", group_id)
        self._check_members([m.value for m in members])
        self.state.members[group_id] = {}
        self._add(group_id, members)

    def record_event(self, event: NewEvent) -> None:
        """Keep ``event``; it is kept only if the session commits."""
        self.state.events.append(event)

    def _check_members(self, ids: list[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if self._type_of(i) is None]
        if missing:
            listed = ", ".join(f"'{i}'" for i in missing[:5])
            raise InvalidValue(
                f"Member value {listed} is not the id of a User or Group in this organization."
            )

    def _type_of(self, id: str) -> str | None:
        for rtype, table in self.state.resources.items():
            if id in table:
                return rtype
        return None

    def _add(self, group_id: str, members: Sequence[Member]) -> None:
        current = self.state.members.setdefault(group_id, {})
        for m in members:
            mtype = self._type_of(m.value)
            if mtype is not None and m.value not in current:
                current[m.value] = (mtype, m.display)


class MemoryStore:
    """Everything in dicts, guarded by one lock (see the module docstring)."""

    def __init__(
        self, resource_types: Sequence[ResourceType] = (USER_RESOURCE, GROUP_RESOURCE)
    ) -> None:
        self._names = {rt.id: unique_attribute(rt) for rt in resource_types}
        self._lock = threading.RLock()
        self._orgs: dict[str, Organization] = {}
        self._states: dict[str, _OrgState] = {}
        self._tokens: list[_Token] = []

    @contextmanager
    def session(
        self, organization_id: str, *, readonly: bool = False, all_or_nothing: bool = False
    ) -> Iterator[MemorySession]:
        """A copy of the organization's state, kept only if the block ends without error;
        a ``readonly`` session reads the state itself (reads return copies). A refused
        write changes nothing, so ``all_or_nothing`` changes nothing here."""
        with self._lock:
            if readonly:
                yield MemorySession(self._states.get(organization_id) or _OrgState(), self._names)
                return
            state = copy.deepcopy(self._states.get(organization_id) or _OrgState())
            yield MemorySession(state, self._names)
            self._states[organization_id] = state

    def recorded_events(self, organization_id: str) -> list[NewEvent]:
        """The organization's outbox, oldest first (copies)."""
        with self._lock:
            state = self._states.get(organization_id)
            return list(state.events) if state else []

    def create_organization(self, slug: str, name: str, profile: str = "auto") -> Organization:
        profile = canonical_profile_name(profile)
        with self._lock:
            if any(o.slug == slug for o in self._orgs.values()):
                raise Uniqueness(f"Organization slug '{slug}' is already taken.")
            org = Organization(str(uuid.uuid4()), slug, name, datetime.now(UTC), profile)
            self._orgs[org.id] = org
            return org

    def set_organization_profile(self, organization_id: str, profile: str) -> Organization:
        profile = canonical_profile_name(profile)
        with self._lock:
            org = self._orgs.get(organization_id)
            if org is None:
                raise NotFound(f"Organization '{organization_id}' does not exist.")
            org = self._orgs[organization_id] = replace(org, profile=profile)
            return org

    def get_organization(self, slug: str) -> Organization | None:
        with self._lock:
            return next((o for o in self._orgs.values() if o.slug == slug), None)

    def list_organizations(self) -> list[Organization]:
        with self._lock:
            return sorted(self._orgs.values(), key=lambda o: o.slug)

    def set_token(self, organization_id: str, token_hash: str, prefix: str) -> TokenInfo:
        with self._lock:
            if organization_id not in self._orgs:
                raise NotFound(f"Organization '{organization_id}' does not exist.")
            if any(t.token_hash == token_hash for t in self._tokens):
                raise Uniqueness("This token is already in use.")
            for i, t in enumerate(self._tokens):
                if t.organization_id == organization_id and t.status == "active":
                    self._tokens[i] = replace(t, status="superseded")
            org = self._orgs[organization_id]
            self._orgs[organization_id] = replace(org, scim_disabled_at=None)
            token = _Token(organization_id, token_hash, prefix, "active", datetime.now(UTC))
            self._tokens.append(token)
            return token.info()

    def revoke_token(self, organization_id: str) -> bool:
        with self._lock:
            if organization_id in self._orgs:
                self.set_scim_access(organization_id, False)
            for i, t in enumerate(self._tokens):
                if t.organization_id == organization_id and t.status == "active":
                    self._tokens[i] = replace(t, status="revoked")
                    return True
            return False

    def set_scim_access(self, organization_id: str, enabled: bool) -> Organization:
        with self._lock:
            org = self._orgs.get(organization_id)
            if org is None:
                raise NotFound(f"Organization '{organization_id}' does not exist.")
            if enabled:
                org = replace(org, scim_disabled_at=None)
            elif org.scim_disabled_at is None:
                org = replace(org, scim_disabled_at=datetime.now(UTC))
            self._orgs[organization_id] = org
            return org

    def token_info(self, organization_id: str) -> TokenInfo | None:
        with self._lock:
            mine = [t for t in self._tokens if t.organization_id == organization_id]
            active = [t for t in mine if t.status == "active"]
            if active:
                return active[0].info()
            return max(mine, key=lambda t: t.created).info() if mine else None

    def find_active_token(self, token_hash: str) -> Organization | None:
        with self._lock:
            for t in self._tokens:
                if t.token_hash == token_hash and t.status == "active":
                    org = self._orgs.get(t.organization_id)
                    return org if org is not None and org.scim_enabled else None
            return None

    def mark_token_used(self, token_hash: str, at: datetime) -> None:
        with self._lock:
            for t in self._tokens:
                if t.token_hash == token_hash and (
                    t.last_used is None or t.last_used < at - TOKEN_USE_RESOLUTION
                ):
                    t.last_used = at
