"""The SQL :class:`~scimcore.provisioning.leavers.LeaverStore`: a leaver's account, its
deprovision job and its exception, each written with its event in one transaction.

Duplicates are kept out by constraints, not by reading first: two presses of
"Deprovision now" compute the same idempotency key, and ``jobs.idempotency_key`` is
unique, so one insert wins and the other answers with the winner's job; an account has
at most one exception, its primary key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...provisioning.events import NewEvent
from ...provisioning.jobs import MAX_ATTEMPTS
from ...provisioning.leavers import AccountState, QueuedJob
from .engine import transaction
from .integration_views import effective_classification
from .outbox import insert_event
from .tables import account_exceptions, jobs, resources, service_accounts

#: Open jobs that already take an account down: a press while one is open adds nothing.
_TAKING_DOWN = ("deactivate", "deprovision")
_OPEN = ("pending", "running")


def _now() -> datetime:
    return datetime.now(UTC)


class SqlLeavers:
    """Leavers' accounts and what is done to them, over the SQL store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def account(
        self, organization_id: str, integration_id: int, account_id: str
    ) -> AccountState | None:
        c, x, r = service_accounts.c, account_exceptions.c, resources.c
        with transaction(self.engine, write=False) as conn:
            row = conn.execute(
                sa.select(
                    c.id,
                    c.integration_id,
                    c.account_id,
                    c.user_id,
                    c.scim_user_resource_id,
                    # As the dashboard lists it: an account discovery never saw is
                    # classified by the rule, and taken for active.
                    effective_classification().label("classification"),
                    sa.func.coalesce(c.remote_status, "active").label("remote_status"),
                    x.service_account_id.is_not(None).label("excepted"),
                )
                .select_from(service_accounts)
                .outerjoin(
                    resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id)
                )
                .outerjoin(account_exceptions, x.service_account_id == c.id)
                .where(
                    c.organization_id == organization_id,
                    c.integration_id == integration_id,
                    c.account_id == account_id,
                )
            ).first()
        if row is None:
            return None
        return AccountState(
            id=int(row.id),
            integration_id=int(row.integration_id),
            account_id=row.account_id,
            user_id=row.user_id,
            remote_id=row.scim_user_resource_id,
            classification=row.classification,
            remote_status=row.remote_status,
            excepted=bool(row.excepted),
        )

    def queue_deprovision(
        self,
        organization_id: str,
        account: AccountState,
        key: Callable[[int], str],
        payload: Mapping[str, Any],
        event: NewEvent,
    ) -> QueuedJob:
        j = jobs.c
        subject = sa.and_(
            j.organization_id == organization_id,
            j.integration_id == account.integration_id,
            j.user_id == account.subject,
        )
        with transaction(self.engine) as conn:
            # One statement, so one snapshot: read in two, a press could miss an open
            # job yet see it as "the previous one" and make a second key (PostgreSQL's
            # READ COMMITTED takes a new snapshot per statement).
            open_job, previous = conn.execute(
                sa.select(
                    sa.select(j.id)
                    .where(subject, j.operation.in_(_TAKING_DOWN), j.status.in_(_OPEN))
                    .order_by(j.id)
                    .limit(1)
                    .scalar_subquery(),
                    sa.select(sa.func.max(j.id))
                    .where(subject, j.operation == "deprovision")
                    .scalar_subquery(),
                )
            ).one()
            if open_job is not None:
                return QueuedJob(int(open_job), created=False)
            idempotency = key(int(previous or 0))
            job_id = _insert_job(conn, organization_id, account, idempotency, payload)
            if job_id is not None:
                insert_event(conn, organization_id, event)
                return QueuedJob(job_id, created=True)
        # A concurrent press inserted the same key first: that job is this press's too.
        with transaction(self.engine, write=False) as conn:
            winner = conn.execute(sa.select(j.id).where(j.idempotency_key == idempotency)).scalar()
        assert winner is not None  # the unique key refused ours, so it exists
        return QueuedJob(int(winner), created=False)

    def set_exception(
        self, organization_id: str, account: AccountState, reason: str, by: str, event: NewEvent
    ) -> bool:
        with transaction(self.engine) as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(account_exceptions).values(
                            service_account_id=account.id,
                            organization_id=organization_id,
                            reason=reason,
                            created_by=by,
                            created=_now(),
                        )
                    )
            except sa.exc.IntegrityError:
                return False  # already an exception (or the account just went away)
            insert_event(conn, organization_id, event)
            return True

    def clear_exception(self, organization_id: str, account: AccountState, event: NewEvent) -> bool:
        x = account_exceptions.c
        with transaction(self.engine) as conn:
            gone = conn.execute(
                sa.delete(account_exceptions).where(
                    x.organization_id == organization_id, x.service_account_id == account.id
                )
            ).rowcount
            if gone:
                insert_event(conn, organization_id, event)
            return bool(gone)


def _insert_job(
    conn: Connection,
    organization_id: str,
    account: AccountState,
    idempotency: str,
    payload: Mapping[str, Any],
) -> int | None:
    """The new job's id; ``None`` when the key is taken (nothing inserted)."""
    now = _now()
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    sa.insert(jobs)
                    .values(
                        organization_id=organization_id,
                        integration_id=account.integration_id,
                        event_id=None,
                        user_id=account.subject,
                        operation="deprovision",
                        payload=dict(payload),
                        idempotency_key=idempotency,
                        status="pending",
                        attempts=0,
                        max_attempts=MAX_ATTEMPTS,
                        run_after=now,
                        created=now,
                        updated=now,
                    )
                    .returning(jobs.c.id)
                ).scalar_one()
            )
    except sa.exc.IntegrityError:
        return None
