"""Quarantine on the SQL tables (the rules: :mod:`scimcore.provisioning.quarantine`).

Every change runs inside the caller's transaction, as conditional updates the
database re-checks: :func:`after_finish` in the one that finishes a job (so a job's
outcome and the quarantine it causes or lifts commit together), :func:`claim_trial`
in the claim, where of several workers exactly one gets each trial.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...provisioning.events import NewEvent, Source
from ...provisioning.jobs import Job
from ...provisioning.quarantine import (
    QUARANTINED,
    WINDOW,
    should_quarantine,
    trial_interval,
)
from .outbox import insert_event
from .tables import integration_connectors, integrations, jobs

#: Statuses a failing integration may be quarantined from (the others are parked).
QUARANTINABLE = ("active", "syncing", "synced", "sync_failed")
_CLEARED = {"quarantined_since": None, "quarantine_next_trial": None, "quarantine_trials": None}


def after_finish(conn: Connection, job: Job, status: str, now: datetime) -> None:
    """A succeeded job lifts its integration's quarantine; a dead one may start it."""
    if status == "succeeded":
        lift(conn, job.organization_id, job.integration_id, now, "a job succeeded", "engine")
    elif status == "dead":
        _quarantine_if_failing(conn, job, now)


def _quarantine_if_failing(conn: Connection, job: Job, now: datetime) -> None:
    j, i = jobs.c, integrations.c
    recent = list(
        conn.execute(
            sa.select(j.status)
            .where(j.integration_id == job.integration_id, j.status.in_(("succeeded", "dead")))
            .order_by(j.id.desc())
            .limit(WINDOW)
        ).scalars()
    )
    if not should_quarantine(recent):
        return
    before = conn.execute(
        sa.select(i.status).where(
            i.organization_id == job.organization_id, i.id == job.integration_id
        )
    ).scalar()
    done = conn.execute(
        sa.update(integrations)
        .where(
            i.organization_id == job.organization_id,
            i.id == job.integration_id,
            i.status.in_(QUARANTINABLE),
        )
        .values(status=QUARANTINED, updated=now)
    )
    if not done.rowcount:
        return
    ic = integration_connectors.c
    conn.execute(
        sa.update(integration_connectors)
        .where(ic.integration_id == job.integration_id)
        .values(
            quarantined_since=now,
            quarantine_next_trial=now + trial_interval(0),
            quarantine_trials=0,
        )
    )
    insert_event(
        conn,
        job.organization_id,
        _status_event(job.integration_id, before, QUARANTINED, "most recent jobs failed", "engine"),
    )


def lift(
    conn: Connection,
    organization_id: str,
    integration_id: int,
    now: datetime,
    reason: str,
    source: Source,
) -> bool:
    """End the integration's quarantine (back to ``active``); False if it had none."""
    i, ic = integrations.c, integration_connectors.c
    done = conn.execute(
        sa.update(integrations)
        .where(
            i.organization_id == organization_id,
            i.id == integration_id,
            i.status == QUARANTINED,
        )
        .values(status="active", updated=now)
    )
    if not done.rowcount:
        return False
    conn.execute(
        sa.update(integration_connectors)
        .where(ic.integration_id == integration_id)
        .values(**_CLEARED)
    )
    insert_event(
        conn, organization_id, _status_event(integration_id, QUARANTINED, "active", reason, source)
    )
    return True


def claim_trial(conn: Connection, integration_id: int, trials: int, now: datetime) -> bool:
    """Take the quarantined integration's due trial: True for exactly one claimer.

    The next trial moves ``trial_interval(trials + 1)`` ahead in the same update that
    checks the trial is still due and untaken, so a second claimer updates nothing.
    """
    ic = integration_connectors.c
    done = conn.execute(
        sa.update(integration_connectors)
        .where(
            ic.integration_id == integration_id,
            ic.quarantine_next_trial <= now,
            ic.quarantine_trials == trials,
        )
        .values(
            quarantine_next_trial=now + trial_interval(trials + 1),
            quarantine_trials=trials + 1,
        )
    )
    return bool(done.rowcount)


def _status_event(
    integration_id: int, before: str | None, after: str, reason: str, source: Source
) -> NewEvent:
    return NewEvent(
        "integration.status_changed",
        "Integration",
        str(integration_id),
        {"from": before, "to": after, "reason": reason},
        source,
    )
