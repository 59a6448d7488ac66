"""Provisioning events: what changed, recorded in the transaction that changed it.

The service and the CSV importers describe each write as :class:`NewEvent` values and
hand them to the store session they wrote with, when that session keeps an outbox
(:class:`EventRecorder`); the SQL store writes them to the ``events`` table in the same
transaction, so a change and its event commit or roll back together (a transactional
outbox). A store without an outbox is unaffected.

Payloads never contain secrets: a User is described by :func:`user_snapshot`, which
keeps only the attributes connectors map (no ``password``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

Source: TypeAlias = Literal["scim", "csv", "engine", "admin"]

USER_CREATED = "scim.user.created"
USER_UPDATED = "scim.user.updated"
USER_DEACTIVATED = "scim.user.deactivated"
USER_REACTIVATED = "scim.user.reactivated"
USER_DELETED = "scim.user.deleted"
ACCOUNT_LINKED = "account.linked"
ACCOUNT_UPDATED = "account.updated"
ACCOUNT_UNLINKED = "account.unlinked"
_ACCOUNT = ("integration_id", "user_id", "account_id", "remote_id", "method")
#: The payload of the events a service-account change records (the account store
#: writes them with the change): the integration, the user, the account, its remote
#: SCIM id and how the change was made (``method``); an unlinked account also keeps
#: ``links`` (what deprovisioning needs, as in ``scim.user.deleted``).
ACCOUNT_EVENT_KEYS: dict[str, tuple[str, ...]] = {
    ACCOUNT_LINKED: _ACCOUNT,
    ACCOUNT_UPDATED: _ACCOUNT,
    ACCOUNT_UNLINKED: (*_ACCOUNT, "links"),
}


@dataclass(frozen=True)
class NewEvent:
    """An event about to be recorded. ``resource_id`` is the User (or account) it is about."""

    type: str
    resource_type: str
    resource_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    source: Source = "scim"


@dataclass(frozen=True)
class Event:
    """A recorded event (``id`` orders events of one organization)."""

    id: int
    organization_id: str
    type: str
    resource_type: str
    resource_id: str
    data: Mapping[str, Any]
    source: str
    created: datetime


@runtime_checkable
class EventRecorder(Protocol):
    """A store session that keeps an outbox: events commit with the session's writes."""

    def record_event(self, event: NewEvent) -> None: ...


def user_snapshot(user: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of a User that connectors map; never a secret."""
    name = user.get("name") if isinstance(user.get("name"), dict) else {}
    assert isinstance(name, dict)
    emails = [e for e in user.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    primary = [e for e in emails if e.get("primary") is True] or emails
    return {
        "userName": user.get("userName"),
        "externalId": user.get("externalId"),
        "displayName": user.get("displayName"),
        "givenName": name.get("givenName"),
        "familyName": name.get("familyName"),
        "email": primary[0]["value"] if primary else None,
        "emails": [str(e["value"]) for e in emails],
        "active": user.get("active", True) is not False,
        "version": (user.get("meta") or {}).get("version"),
    }


def resource_events(
    resource_type: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    source: Source = "scim",
) -> list[NewEvent]:
    """The events describing one write of a SCIM resource (``None``: absent).

    A user's update carries, besides the user as it is now, ``changed``: each mapped
    attribute that changed, as ``[before, after]`` (what the console's Activity shows
    in words; a webhook receiver may use it too)."""
    current = after if after is not None else before
    if current is None:
        return []
    rid = str(current.get("id"))
    if resource_type != "User":
        kind = "created" if before is None else "deleted" if after is None else "updated"
        data = {"displayName": current.get("displayName")}
        return [NewEvent(f"scim.{resource_type.lower()}.{kind}", resource_type, rid, data, source)]
    snapshot = user_snapshot(current)
    if before is None:
        return [NewEvent(USER_CREATED, "User", rid, snapshot, source)]
    if after is None:
        return [NewEvent(USER_DELETED, "User", rid, snapshot, source)]
    was, now = before.get("active", True) is not False, after.get("active", True) is not False
    if was and not now:
        return [NewEvent(USER_DEACTIVATED, "User", rid, snapshot, source)]
    if now and not was:
        return [NewEvent(USER_REACTIVATED, "User", rid, snapshot, source)]
    previous = user_snapshot(before)
    changed = {
        key: [previous[key], value]
        for key, value in snapshot.items()
        if key != "version" and previous.get(key) != value
    }
    if not changed:
        return []
    return [NewEvent(USER_UPDATED, "User", rid, {**snapshot, "changed": changed}, source)]


def record_changes(
    session: object,
    resource_type: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    source: Source = "scim",
) -> None:
    """Record the events of one write in ``session`` if it keeps an outbox."""
    if isinstance(session, EventRecorder):
        for event in resource_events(resource_type, before, after, source):
            session.record_event(event)
