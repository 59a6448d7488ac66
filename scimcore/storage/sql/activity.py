"""What the console's Activity page and a user's page read: an organization's events,
newest first, keyset-paged, optionally about one user, with the users' names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import transaction
from .tables import EventUserId, events, resources


@dataclass(frozen=True)
class ActivityEvent:
    """One event as the console lists it: ``user_id`` is who it is about (the user, or
    the service account's user), ``user_name`` their current ``userName``."""

    id: int
    created: datetime
    type: str
    source: str
    resource_type: str
    resource_id: str
    user_id: str | None
    user_name: str | None
    data: dict[str, Any] = field(default_factory=dict)


def events_query(
    organization_id: str,
    *,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> sa.Select[Any]:
    """The organization's events, newest first, about ``user_id`` when given.

    A user's events are the union of two index range scans, each newest first and
    stopped at ``limit``: the user's own (``ix_events_resource``) and their service
    accounts' (``data ->> 'user_id'``, ``ix_events_data_user_id``). Written as one
    ``OR``, SQLite (which keeps no statistics here) would walk every event of the
    organization backwards instead, looking for the user's.
    """
    e = events.c
    where: list[Any] = [e.organization_id == organization_id]
    if since is not None:
        where.append(e.created >= since)
    if until is not None:
        where.append(e.created < until)
    if before_id is not None:
        where.append(e.id < before_id)
    if user_id is not None:
        account_user = EventUserId(e.data)
        halves = [
            sa.select(e.id)
            .where(*where, half, e.resource_type == resource_type)
            .order_by(e.id.desc())
            .limit(limit)
            .subquery()
            for half, resource_type in (
                (e.resource_id == user_id, "User"),
                (account_user == user_id, "ServiceAccount"),
            )
        ]
        ids = sa.union_all(*(sa.select(half.c.id) for half in halves)).subquery("ids")
        where = [e.organization_id == organization_id, e.id.in_(sa.select(ids.c.id))]
    return (
        sa.select(e.id, e.created, e.type, e.source, e.resource_type, e.resource_id, e.data)
        .where(*where)
        .order_by(e.id.desc())
        .limit(limit)
    )


class SqlActivity:
    """The reads of the console's activity views, over the SQL store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find_user(self, organization_id: str, text: str) -> str | None:
        """The id of the user named ``text`` (userName, case-insensitive) or with that id."""
        r = resources.c
        with transaction(self.engine, write=False) as conn:
            found = conn.execute(
                sa.select(r.id)
                .where(
                    r.organization_id == organization_id,
                    r.resource_type == "User",
                    sa.or_(r.name_key == text.lower(), r.id == text),
                )
                .limit(1)
            ).scalar()
        return str(found) if found is not None else None

    def events(
        self,
        organization_id: str,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[ActivityEvent]:
        """:func:`events_query`'s events, each with the user it is about and their name."""
        r = resources.c
        query = events_query(
            organization_id,
            user_id=user_id,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )
        with transaction(self.engine, write=False) as conn:
            rows = conn.execute(query).all()
            about = {
                row.id: _about(row.resource_type, row.resource_id, row.data or {}) for row in rows
            }
            wanted = sorted({uid for uid in about.values() if uid})
            names: dict[str, str] = (
                {
                    str(uid): str(name)
                    for uid, name in conn.execute(
                        sa.select(r.id, r.name).where(
                            r.organization_id == organization_id,
                            r.resource_type == "User",
                            r.id.in_(wanted),
                        )
                    )
                }
                if wanted
                else {}
            )
        return [
            ActivityEvent(
                id=row.id,
                created=row.created,
                type=row.type,
                source=row.source,
                resource_type=row.resource_type,
                resource_id=row.resource_id,
                user_id=about[row.id],
                user_name=names.get(about[row.id] or ""),
                data=dict(row.data or {}),
            )
            for row in rows
        ]


def _about(resource_type: str, resource_id: str, data: dict[str, Any]) -> str | None:
    if resource_type == "User":
        return resource_id
    found = data.get("user_id")
    return str(found) if found else None
