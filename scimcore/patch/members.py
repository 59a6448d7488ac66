"""Group membership changes (RFC 7644 3.5.2 applied to ``Group.members``).

Members are stored apart from the group (see :mod:`scimcore.storage.base`), so a
PATCH never rewrites ``members`` in the resource: the operations become a
:class:`MemberChanges` the store applies without reading the other members.
Several operations compose in order (``remove u1`` then ``add u1`` keeps u1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..compat import Profile
from ..errors import InvalidValue, NoTarget
from ..schema.attributes import Attribute
from ..storage.base import Member
from .values import coerce_one, is_blank

_MEMBER_TYPES = {"user": "User", "group": "Group"}


@dataclass(frozen=True)
class MemberChanges:
    """Membership changes: ``replace`` (when not ``None``) first, then ``add`` and ``remove``.

    ``add`` and ``remove`` never name the same id, so their order does not matter.
    """

    add: tuple[Member, ...] = ()
    remove: tuple[str, ...] = ()
    replace: tuple[Member, ...] | None = None

    def __bool__(self) -> bool:
        return bool(self.add or self.remove or self.replace is not None)


def members_from_value(attr: Attribute, value: Any, label: str, profile: Profile) -> list[Member]:
    """The members a PATCH value lists: an array or one object; a bare string is an id.

    Each needs a non-empty string ``value``; ``type`` is ``User`` (default) or
    ``Group`` in any case; ``$ref`` is ignored (Entra ID sends ``"$ref": null``).
    """
    if is_blank(value, profile):
        return []
    items = value if isinstance(value, list) else [value]
    found: dict[str, Member] = {}
    for item in items:
        element = coerce_one(attr, item, label, profile)
        member_id = element.get("value")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue(f"Each of '{label}' needs a 'value': the member's id.")
        kind = _MEMBER_TYPES.get(str(element.get("type", "User")).lower())
        if kind is None:
            raise InvalidValue(
                f"'{label}.type' must be 'User' or 'Group', not {element['type']!r}."
            )
        found.setdefault(member_id, Member(member_id, kind, element.get("display")))
    return list(found.values())


class MemberLedger:
    """Accumulates membership operations into one :class:`MemberChanges`."""

    def __init__(self, load_members: Callable[[], list[dict[str, Any]]] | None) -> None:
        self._load = load_members
        self._loaded: list[Member] | None = None
        self._replace: dict[str, Member] | None = None
        self._add: dict[str, Member] = {}
        self._remove: dict[str, None] = {}

    def add(self, members: list[Member]) -> None:
        """RFC 7644 3.5.2.1: members already present are left as they are."""
        for member in members:
            self._remove.pop(member.value, None)
            if self._replace is not None:
                self._replace.setdefault(member.value, member)
            else:
                self._add.setdefault(member.value, member)

    def remove(self, ids: list[str]) -> None:
        for member_id in ids:
            if self._replace is not None:
                self._replace.pop(member_id, None)
            else:
                self._add.pop(member_id, None)
                self._remove[member_id] = None

    def replace(self, members: list[Member]) -> None:
        self._replace = {m.value: m for m in members}
        self._add.clear()
        self._remove.clear()

    def current(self) -> list[Member]:
        """The membership as it stands after the operations so far (loads members once)."""
        if self._replace is not None:
            return list(self._replace.values())
        if self._loaded is None:
            if self._load is None:
                raise NoTarget(
                    "This members filter needs the group's current members, "
                    "which were not provided; filter on 'value eq' instead."
                )
            self._loaded = [_member(m) for m in self._load()]
        kept = [m for m in self._loaded if m.value not in self._remove]
        present = {m.value for m in kept}
        return kept + [m for m in self._add.values() if m.value not in present]

    def changes(self) -> MemberChanges:
        return MemberChanges(
            add=tuple(self._add.values()),
            remove=tuple(self._remove),
            replace=None if self._replace is None else tuple(self._replace.values()),
        )


def member_dict(member: Member) -> dict[str, Any]:
    """A member as a ``members`` element, for matching filters against it."""
    out: dict[str, Any] = {"value": member.value, "type": member.type}
    if member.display is not None:
        out["display"] = member.display
    return out


def _member(raw: dict[str, Any]) -> Member:
    display = raw.get("display")
    return Member(str(raw["value"]), str(raw.get("type") or "User"), display)
