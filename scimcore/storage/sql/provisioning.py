"""The SQL :class:`~scimcore.provisioning.store.ProvisioningStore` (SQLite and PostgreSQL).

Events are written by :func:`insert_event` inside the caller's transaction (the SCIM
store session, the service-account session): the outbox commits with the change.
Workers share the ``jobs`` table. On PostgreSQL, planning and claiming lock rows with
``FOR UPDATE SKIP LOCKED``, so several workers take disjoint sets of rows without
waiting for each other; on SQLite each transaction holds the database's single write
lock (``BEGIN IMMEDIATE``), which serializes them. A claim is a lease
(``locked_until``): finishing checks that the worker still holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from ...provisioning.events import Event, NewEvent
from ...provisioning.jobs import Job, JobStatus
from ...provisioning.quarantine import QUARANTINED
from ...provisioning.store import (
    Binding,
    Link,
    LinkChange,
    Outcome,
)
from . import planning
from .accounts import integration_from_row
from .discovery_runs import DiscoveryRuns, link_from_row
from .engine import transaction
from .outbox import insert_event
from .pacing import reserve_call
from .planning import event_from_row, lock_planner
from .quarantine import after_finish, claim_trial, lift
from .retention import PRUNE_BATCH, prune_events
from .tables import (
    events,
    integration_connectors,
    integrations,
    jobs,
    service_accounts,
)

#: Statuses in which no job of the integration runs.
PARKED = ("needs_reauth", "disabled", "pending_auth")
_OPEN = ("pending", "running")


def _now() -> datetime:
    return datetime.now(UTC)


class SqlProvisioningStore(DiscoveryRuns):
    """Bindings, the outbox, jobs and discovery runs on the engine of a :class:`SqlStore`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        #: Where the next :meth:`plan` starts among the organizations with events waiting.
        self._plan_cursor: str | None = None

    def _begin(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        return transaction(self.engine, write=write)

    # -- bindings -------------------------------------------------------------------------

    def bind(
        self,
        organization_id: str,
        integration_id: int,
        connector: str,
        settings: Mapping[str, Any],
        *,
        max_concurrency: int = 4,
        min_interval_ms: int = 0,
    ) -> Binding:
        values = {
            "connector": connector,
            "settings": dict(settings),
            "max_concurrency": max(1, max_concurrency),
            "min_interval_ms": max(0, min_interval_ms),
            "updated": _now(),
        }
        ic = integration_connectors.c
        with self._begin() as conn:
            done = conn.execute(
                sa.update(integration_connectors)
                .where(ic.organization_id == organization_id, ic.integration_id == integration_id)
                .values(**values)
            )
            if not done.rowcount:
                conn.execute(
                    sa.insert(integration_connectors).values(
                        organization_id=organization_id, integration_id=integration_id, **values
                    )
                )
        found = self.binding(organization_id, integration_id)
        assert found is not None
        return found

    def set_provisioning(
        self, organization_id: str, integration_id: int, enabled: bool, *, manual: bool
    ) -> None:
        _set_provisioning(self, organization_id, integration_id, enabled, manual=manual)

    def binding(self, organization_id: str, integration_id: int) -> Binding | None:
        i, ic = integrations.c, integration_connectors.c
        with self._begin(write=False) as conn:
            row = (
                conn.execute(
                    sa.select(
                        integrations,
                        *[
                            c
                            for c in integration_connectors.c
                            if c.name not in ("organization_id", "integration_id", "updated")
                        ],
                    )
                    .outerjoin(integration_connectors, ic.integration_id == i.id)
                    .where(i.organization_id == organization_id, i.id == integration_id)
                )
                .mappings()
                .first()
            )
        return None if row is None else _binding(row)

    # -- events and jobs ------------------------------------------------------------------

    def record_events(self, organization_id: str, new: Sequence[NewEvent]) -> None:
        with self._begin() as conn:
            for event in new:
                insert_event(conn, organization_id, event)

    def events(self, organization_id: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        e = events.c
        with self._begin(write=False) as conn:
            rows = conn.execute(
                sa.select(events)
                .where(e.organization_id == organization_id, e.id > after)
                .order_by(e.id)
                .limit(limit)
            ).mappings()
            return [event_from_row(r) for r in rows]

    def plan(self, limit: int = 500) -> int:
        """Plan up to ``limit`` events fairly over organizations, after setting aside in
        bulk those no integration can want (:mod:`.planning`); the number planned."""
        with self._begin() as conn:
            lock_planner(conn)
            done = planning.plan(conn, limit, self._plan_cursor)
        self._plan_cursor = done.resume_after
        return done.events

    def claim(self, worker: str, limit: int, lease: timedelta) -> list[Job]:
        j, i, ic = jobs.c, integrations.c, integration_connectors.c
        earlier = jobs.alias("earlier")
        now = _now()
        blocked = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.integration_id == j.integration_id,
                earlier.c.user_id == j.user_id,
                earlier.c.id < j.id,
                earlier.c.status.in_(_OPEN),
            )
            .exists()
        )
        with self._begin() as conn:
            candidates = conn.execute(
                sa.select(
                    j.id, j.integration_id, ic.max_concurrency, i.status, ic.quarantine_trials
                )
                .join(integrations, i.id == j.integration_id)
                .outerjoin(integration_connectors, ic.integration_id == j.integration_id)
                .where(
                    sa.or_(
                        sa.and_(j.status == "pending", j.run_after <= now),
                        sa.and_(j.status == "running", j.locked_until < now),
                    ),
                    i.status.not_in(PARKED),
                    # A quarantined integration lets one trial job through when it is due.
                    sa.or_(i.status != QUARANTINED, ic.quarantine_next_trial <= now),
                    sa.or_(ic.paused_until.is_(None), ic.paused_until <= now),
                    ~blocked,
                )
                .order_by(j.id)
                .limit(max(1, limit) * 4)
                .with_for_update(skip_locked=True, of=jobs)
            ).all()
            if not candidates:
                return []
            ids = sorted({row[1] for row in candidates})
            # Serialize claimers per integration so max_concurrency holds across workers.
            conn.execute(
                sa.select(ic.integration_id)
                .where(ic.integration_id.in_(ids))
                .order_by(ic.integration_id)
                .with_for_update()
            ).all()
            running: dict[int, int] = dict(
                conn.execute(
                    sa.select(j.integration_id, sa.func.count())
                    .where(j.integration_id.in_(ids), j.status == "running", j.locked_until >= now)
                    .group_by(j.integration_id)
                ).all()
            )
            chosen: list[int] = []
            trials: set[int] = set()
            for job_id, integration_id, max_concurrency, status, tried in candidates:
                if len(chosen) >= limit:
                    break
                if running.get(integration_id, 0) >= (max_concurrency or 4):
                    continue
                if status == QUARANTINED:
                    if integration_id in trials or not claim_trial(
                        conn, integration_id, tried or 0, now
                    ):
                        continue
                    trials.add(integration_id)
                running[integration_id] = running.get(integration_id, 0) + 1
                chosen.append(job_id)
            if not chosen:
                return []
            conn.execute(
                sa.update(jobs)
                .where(j.id.in_(chosen))
                .values(status="running", locked_by=worker, locked_until=now + lease, updated=now)
            )
            rows = conn.execute(sa.select(jobs).where(j.id.in_(chosen)).order_by(j.id)).mappings()
            return [_job(r) for r in rows]

    def finish(self, job: Job, worker: str, outcome: Outcome) -> bool:
        j = jobs.c
        now = _now()
        attempts = job.attempts + (1 if outcome.count_attempt else 0)
        status = outcome.status
        if status == "pending" and attempts >= job.max_attempts:
            status = "dead"
        with self._begin() as conn:
            done = conn.execute(
                sa.update(jobs)
                .where(j.id == job.id, j.status == "running", j.locked_by == worker)
                .values(
                    status=status,
                    attempts=attempts,
                    run_after=outcome.run_after or now,
                    locked_by=None,
                    locked_until=None,
                    last_error=outcome.error,
                    result=dict(outcome.result) or None,
                    updated=now,
                    finished=now if status in ("succeeded", "dead") else None,
                )
            )
            if not done.rowcount:
                return False
            if outcome.link is not None:
                self._change_link(conn, job, outcome.link, now)
            for event in outcome.events:
                insert_event(conn, job.organization_id, event)
            after_finish(conn, job, status, now)
            return True

    def _change_link(self, conn: Connection, job: Job, change: LinkChange, now: datetime) -> None:
        c = service_accounts.c
        # A job queued for one account (the dashboard's "Deprovision now") changes that
        # account, owned or not; any other job its user's account in the integration.
        target = job.payload.get("service_account_id")
        mine = sa.and_(
            c.organization_id == job.organization_id,
            c.integration_id == job.integration_id,
            c.id == target if isinstance(target, int) else c.user_id == job.user_id,
        )
        if change.remove:
            conn.execute(sa.delete(service_accounts).where(mine))
            return
        remote: dict[str, Any] = {
            "remote_status": change.remote_status,
            "last_seen": now,
            "updated": now,
        }
        if change.remote_id is not None:
            remote["scim_user_resource_id"] = change.remote_id
        if change.remote_email is not None:
            remote["remote_email"] = change.remote_email
        if conn.execute(sa.update(service_accounts).where(mine).values(**remote)).rowcount:
            return
        if change.account_id is None:
            return
        try:
            with conn.begin_nested():
                adopted = conn.execute(
                    sa.update(service_accounts)
                    .where(
                        c.organization_id == job.organization_id,
                        c.integration_id == job.integration_id,
                        c.account_id == change.account_id,
                        c.user_id.is_(None),
                    )
                    .values(
                        user_id=job.user_id,
                        link_status="linked",
                        link_method=change.link_method,
                        **remote,
                    )
                ).rowcount
                if not adopted:
                    conn.execute(
                        sa.insert(service_accounts).values(
                            organization_id=job.organization_id,
                            integration_id=job.integration_id,
                            user_id=job.user_id,
                            account_id=change.account_id,
                            link_status="linked",
                            link_method=change.link_method,
                            created=now,
                            first_seen=now,
                            **remote,
                        )
                    )
        except sa.exc.IntegrityError:
            # The account is linked to someone else, or the user is gone: keep the job's
            # outcome; discovery will show the account as it is.
            pass

    def link(self, organization_id: str, integration_id: int, user_id: str) -> Link | None:
        c = service_accounts.c
        with self._begin(write=False) as conn:
            row = (
                conn.execute(
                    sa.select(service_accounts).where(
                        c.organization_id == organization_id,
                        c.integration_id == integration_id,
                        c.user_id == user_id,
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else link_from_row(row)

    def set_integration_status(
        self, organization_id: str, integration_id: int, status: str, error: str | None = None
    ) -> None:
        i, ic = integrations.c, integration_connectors.c
        now = _now()
        with self._begin() as conn:
            conn.execute(
                sa.update(integrations)
                .where(i.organization_id == organization_id, i.id == integration_id)
                .values(status=status, updated=now)
            )
            if error is not None:
                conn.execute(
                    sa.update(integration_connectors)
                    .where(ic.integration_id == integration_id)
                    .values(last_error=error, last_error_at=now)
                )

    def reserve_call(self, organization_id: str, integration_id: int, gap: timedelta) -> float:
        return reserve_call(self.engine, organization_id, integration_id, gap)

    def prune_events(self, before: datetime, *, limit: int = PRUNE_BATCH) -> int:
        return prune_events(self.engine, before, limit=limit)

    def lift_quarantine(self, organization_id: str, integration_id: int) -> bool:
        """An admin ends the integration's quarantine: its jobs run again at once."""
        with self._begin() as conn:
            return lift(
                conn, organization_id, integration_id, _now(), "lifted by an admin", "admin"
            )

    def pause(self, organization_id: str, integration_id: int, until: datetime) -> None:
        ic = integration_connectors.c
        with self._begin() as conn:
            conn.execute(
                sa.update(integration_connectors)
                .where(ic.organization_id == organization_id, ic.integration_id == integration_id)
                .values(paused_until=until)
            )

    def jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        j = jobs.c
        q = sa.select(jobs).order_by(j.id.desc()).limit(limit)
        if status is not None:
            q = q.where(j.status == status)
        with self._begin(write=False) as conn:
            return [_job(r) for r in conn.execute(q).mappings()]

    def retry(self, job_id: int) -> bool:
        """Put a dead job back in the queue with a fresh set of attempts."""
        j = jobs.c
        with self._begin() as conn:
            return bool(
                conn.execute(
                    sa.update(jobs)
                    .where(j.id == job_id, j.status == "dead")
                    .values(
                        status="pending",
                        attempts=0,
                        run_after=_now(),
                        finished=None,
                        updated=_now(),
                    )
                ).rowcount
            )

    # -- domains and discovery ------------------------------------------------------------


def _binding(row: RowMapping) -> Binding:
    integration = integration_from_row(row)
    connector = row["connector"] or ("manual" if row["is_manual"] else row["kind"])
    return Binding(
        integration=integration,
        connector=connector,
        settings=dict(row["settings"] or {}),
        max_concurrency=row["max_concurrency"] or 4,
        min_interval_ms=row["min_interval_ms"] or 0,
        paused_until=row["paused_until"],
        quarantined_since=row["quarantined_since"],
        quarantine_next_trial=row["quarantine_next_trial"],
        last_error=row["last_error"],
        last_successful_sync=row["last_successful_sync"],
        account_count=row["account_count"],
    )


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        organization_id=row["organization_id"],
        integration_id=row["integration_id"],
        user_id=row["user_id"],
        operation=row["operation"],
        payload=dict(row["payload"] or {}),
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        event_id=row["event_id"],
        last_error=row["last_error"],
        created=row["created"],
        result=dict(row["result"] or {}),
    )


def set_provisioning(
    engine: Engine, organization_id: str, integration_id: int, enabled: bool, *, manual: bool
) -> None:
    """Switch provisioning of an integration on or off (and whether it is manual)."""
    SqlProvisioningStore(engine).set_provisioning(
        organization_id, integration_id, enabled, manual=manual
    )


def _set_provisioning(
    store: SqlProvisioningStore,
    organization_id: str,
    integration_id: int,
    enabled: bool,
    *,
    manual: bool,
) -> None:
    i = integrations.c
    with store._begin() as conn:
        conn.execute(
            sa.update(integrations)
            .where(i.organization_id == organization_id, i.id == integration_id)
            .values(provisioning_enabled=enabled, is_manual=manual, updated=_now())
        )
