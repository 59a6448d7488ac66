"""Planning: turning the outbox's unplanned events into jobs, without starving anyone.

Each call looks at the organizations that have unplanned events (found by a loose scan
of the partial index ``ix_events_unplanned_org``: one probe per organization, however
many events wait), starting after the organization the previous call ended with:

1. **Set aside what no integration can want**, set-based: the events of an
   organization with no provisioning integration are marked planned by one ``UPDATE``
   per :data:`SET_ASIDE_CHUNK` events, with no row read into Python. A 100,000-row CSV
   import into an organization that provisions nothing costs a few statements.
2. **Plan a fair share** of each other organization's oldest events (``limit``
   divided among them), read and planned into jobs in one transaction. A fresh event of
   one organization is planned in the next call whatever another organization's
   backlog; within an organization events keep their order, and so do the jobs made
   from them (the worker runs a user's jobs in job order).

Only one planner works at a time: on PostgreSQL a transaction-scoped advisory lock
serializes them (``SKIP LOCKED`` let two planners take interleaved batches and insert
a user's later job before its earlier one); SQLite's write lock does the same there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ...provisioning.events import Event, user_snapshot
from ...provisioning.jobs import MAX_ATTEMPTS, plan_jobs
from .tables import events, integrations, jobs, resources

#: Events set aside per statement in step 1.
SET_ASIDE_CHUNK = 20_000
#: The advisory lock key of the planner on PostgreSQL ("scimplan" in ASCII).
_PLANNER_LOCK = 0x7363696D706C616E


@dataclass(frozen=True)
class Planned:
    """What one call did: events planned (set aside or into jobs), and the organization
    the next call starts after (``None``: from the first)."""

    events: int
    resume_after: str | None


def plan(conn: Connection, limit: int, after: str | None = None) -> Planned:
    """Plan up to ``limit`` events (plus any number set aside) in ``conn``'s transaction."""
    orgs = waiting_organizations(conn, after, limit)
    if after is not None and len(orgs) < limit:  # wrap around to the first ones
        orgs += [o for o in waiting_organizations(conn, None, limit - len(orgs)) if o not in orgs]
    if not orgs:
        return Planned(0, None)
    targets = _provisioning_integrations(conn, set(orgs))
    quiet = [o for o in orgs if o not in targets]
    busy = [o for o in orgs if o in targets]
    done = 0
    for org in quiet:  # at most one chunk per call, so a call stays short
        done += set_aside(conn, org, SET_ASIDE_CHUNK - done)
        if done >= SET_ASIDE_CHUNK:
            break
    ids: list[int] = []
    last: dict[str, int] = {}  # the newest event taken of each organization with more
    while busy and len(ids) < limit:  # shares, then what the others left, shared again
        share = max(1, (limit - len(ids)) // len(busy))
        full = []
        for org in busy:
            taken = _oldest(conn, org, min(share, limit - len(ids)), last.get(org))
            ids += taken
            if len(taken) == share:
                full.append(org)
                last[org] = taken[-1]
        busy = full
    done += plan_events(conn, ids, targets)
    return Planned(done, orgs[-1])


def waiting_organizations(conn: Connection, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` organizations with unplanned events, in id order after ``after``:
    a recursive query that probes the partial index once per organization."""
    e = events.c
    first = sa.select(sa.func.min(e.organization_id)).where(sa.not_(e.planned))
    if after is not None:
        first = first.where(e.organization_id > after)
    orgs = sa.select(first.scalar_subquery().label("org")).cte("orgs", recursive=True)
    inner = events.alias("later")
    following = sa.select(
        sa.select(sa.func.min(inner.c.organization_id))
        .where(sa.not_(inner.c.planned), inner.c.organization_id > orgs.c.org)
        .scalar_subquery()
    ).where(orgs.c.org.is_not(None))
    orgs = orgs.union_all(following)
    found = conn.execute(
        sa.select(orgs.c.org).where(orgs.c.org.is_not(None)).limit(limit)
    ).scalars()
    return [str(org) for org in found]


def set_aside(conn: Connection, organization_id: str, chunk: int = SET_ASIDE_CHUNK) -> int:
    """Mark planned up to ``chunk`` unplanned events of ``organization_id`` (which has no
    provisioning integration), unread; their number."""
    e = events.c
    ids = (
        sa.select(e.id)
        .where(e.organization_id == organization_id, sa.not_(e.planned))
        .limit(chunk)
        .scalar_subquery()
    )
    result = conn.execute(
        sa.update(events).where(e.id.in_(ids), sa.not_(e.planned)).values(planned=True)
    )
    return int(result.rowcount or 0)


def _oldest(conn: Connection, organization_id: str, limit: int, after: int | None) -> list[int]:
    e = events.c
    if limit <= 0:
        return []
    query = sa.select(e.id).where(e.organization_id == organization_id, sa.not_(e.planned))
    if after is not None:
        query = query.where(e.id > after)
    return list(conn.execute(query.order_by(e.id).limit(limit)).scalars())


def plan_events(conn: Connection, ids: list[int], targets: dict[str, list[int]]) -> int:
    if not ids:
        return 0
    e = events.c
    rows = conn.execute(
        sa.select(events).where(e.id.in_(ids), sa.not_(e.planned)).order_by(e.id)
    ).mappings()
    pending = _with_users(conn, [event_from_row(r) for r in rows])
    if not pending:
        return 0
    now = datetime.now(UTC)
    specs = [
        {
            "organization_id": event.organization_id,
            "integration_id": spec.integration_id,
            "event_id": event.id,
            "user_id": spec.user_id,
            "operation": spec.operation,
            "payload": dict(spec.payload),
            "idempotency_key": spec.idempotency_key,
            "status": "pending",
            "attempts": 0,
            "max_attempts": MAX_ATTEMPTS,
            "run_after": now,
            "created": now,
            "updated": now,
        }
        for event in pending
        for spec in plan_jobs(event, targets.get(event.organization_id, []))
    ]
    if specs:
        keys = [s["idempotency_key"] for s in specs]
        known = set(
            conn.execute(
                sa.select(jobs.c.idempotency_key).where(jobs.c.idempotency_key.in_(keys))
            ).scalars()
        )
        fresh = [s for s in specs if s["idempotency_key"] not in known]
        if fresh:
            conn.execute(sa.insert(jobs), fresh)
    conn.execute(sa.update(events).where(e.id.in_([ev.id for ev in pending])).values(planned=True))
    return len(pending)


def lock_planner(conn: Connection) -> None:
    """Wait for any other planner's transaction to end (PostgreSQL; SQLite's write
    lock already serializes writers)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PLANNER_LOCK)))


def event_from_row(row: RowMapping) -> Event:
    return Event(
        id=row["id"],
        organization_id=row["organization_id"],
        type=row["type"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        data=dict(row["data"] or {}),
        source=row["source"],
        created=row["created"],
    )


def _provisioning_integrations(conn: Connection, orgs: set[str]) -> dict[str, list[int]]:
    i = integrations.c
    rows = conn.execute(
        sa.select(i.organization_id, i.id)
        .where(i.organization_id.in_(sorted(orgs)), i.provisioning_enabled)
        .order_by(i.id)
    ).all()
    out: dict[str, list[int]] = {}
    for org, integration_id in rows:
        out.setdefault(org, []).append(integration_id)
    return out


def _with_users(conn: Connection, pending: list[Event]) -> list[Event]:
    """Account events from the CSV name only the user: add what connectors map.

    One statement per organization in the batch, whatever the number of users.
    """
    wanted: dict[str, set[str]] = {}
    for ev in pending:
        if ev.resource_type == "ServiceAccount" and ev.data.get("user_id"):
            wanted.setdefault(ev.organization_id, set()).add(str(ev.data["user_id"]))
    if not wanted:
        return pending
    r = resources.c
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for org, uids in wanted.items():
        rows = conn.execute(
            sa.select(r.id, r.data).where(
                r.organization_id == org, r.resource_type == "User", r.id.in_(sorted(uids))
            )
        )
        for uid, data in rows:
            found[(org, uid)] = user_snapshot(data)
    return [
        replace(
            ev,
            data={**found.get((ev.organization_id, str(ev.data.get("user_id"))), {}), **ev.data},
        )
        if ev.resource_type == "ServiceAccount"
        else ev
        for ev in pending
    ]
