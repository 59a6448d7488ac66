"""The transactional outbox: events written in the caller's transaction.

Imported by the SCIM store session, the service-account session and the provisioning
store, so an event commits or rolls back with the change it describes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...provisioning.events import USER_DELETED, NewEvent
from ...provisioning.jobs import PLANNED_SOURCES
from .tables import events, service_accounts

#: Built once: an INSERT built per event cost more than running it.
_INSERT = sa.insert(events)


def _now() -> datetime:
    return datetime.now(UTC)


def insert_event(conn: Connection, organization_id: str, event: NewEvent) -> None:
    """Write ``event`` in the transaction of ``conn``.

    A User's service accounts are deleted with the User (foreign key cascade), so the
    deletion event keeps what the engine needs to deprovision them: their links.
    """
    data = dict(event.data)
    if event.resource_type == "User" and event.type == USER_DELETED:
        c = service_accounts.c
        rows = conn.execute(
            sa.select(c.integration_id, c.account_id, c.scim_user_resource_id).where(
                c.organization_id == organization_id, c.user_id == event.resource_id
            )
        ).all()
        data["links"] = [
            {"integration_id": r[0], "account_id": r[1], "remote_id": r[2]} for r in rows
        ]
    conn.execute(
        _INSERT,
        {
            "organization_id": organization_id,
            "type": event.type,
            "resource_type": event.resource_type,
            "resource_id": event.resource_id,
            "data": data,
            "source": event.source,
            "created": _now(),
            "planned": event.source not in PLANNED_SOURCES,
        },
    )
