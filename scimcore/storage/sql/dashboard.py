"""What the console's dashboard reads: each integration's connection health, the
leavers' and orphans' accounts still active (keyset-paged, by service), the accounts
kept as exceptions, and the counts at the top of the page.

A leaver's account is one :mod:`scimcore.provisioning.leavers` can act on: classified
``retired`` or ``unknown`` and last seen ``active``. Each row carries the last job that
takes it down (its owner's ``deactivate``/``deprovision`` job, or the orphan's own), so
the page can say "queued" instead of offering the button again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...provisioning.jobs import ACCOUNT_SUBJECT_PREFIX
from ...provisioning.leavers import LEAVER_CLASSES, NEEDS_ATTENTION
from .engine import transaction
from .integration_views import effective_classification, effectively_active
from .tables import (
    account_exceptions,
    integration_connectors,
    integrations,
    jobs,
    resources,
    service_accounts,
    sync_runs,
)

Shown: TypeAlias = Literal["all", "retired", "unknown", "exceptions"]
SHOWN: tuple[Shown, ...] = ("all", "retired", "unknown", "exceptions")


@dataclass(frozen=True)
class IntegrationHealth:
    """One integration's connection as the dashboard shows it."""

    id: int
    display_name: str
    connector: str | None
    status: str
    provisioning_enabled: bool
    quarantined_since: datetime | None
    quarantine_next_trial: datetime | None
    last_sync_started: datetime | None
    last_sync_finished: datetime | None
    last_successful_sync: datetime | None
    last_run_status: str | None
    last_error: str | None
    last_error_at: datetime | None
    #: Jobs given up on (``dead``), waiting for ``scimserver jobs retry``.
    dead_jobs: int

    @property
    def needs_attention(self) -> bool:
        return self.status in NEEDS_ATTENTION or self.last_run_status == "failed"


@dataclass(frozen=True)
class LeaverRow:
    """A leaver's or orphan's account (or one kept as an exception) with its person."""

    id: int
    integration_id: int
    integration_name: str
    account_id: str
    classification: str | None
    remote_email: str | None
    user_id: str | None
    user_name: str | None
    user_display_name: str | None
    user_active: bool | None
    last_access_time: datetime | None
    last_seen: datetime | None
    job_status: str | None
    job_error: str | None
    exception_reason: str | None
    exception_by: str | None
    exception_at: datetime | None


@dataclass(frozen=True)
class DashboardCounts:
    attention: int
    retired: int
    orphans: int
    exceptions: int


def _subject(c: Any) -> Any:
    """The ``jobs.user_id`` of the account's jobs: its owner, or the account itself."""
    return sa.func.coalesce(c.user_id, ACCOUNT_SUBJECT_PREFIX + sa.cast(c.id, sa.String))


def leavers_query(
    organization_id: str,
    *,
    shown: Shown = "all",
    integration_id: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 51,
) -> sa.Select[Any]:
    """One page in (integration, account row) order after ``after`` (keyset)."""
    c, i, r, x, j = (
        service_accounts.c,
        integrations.c,
        resources.c,
        account_exceptions.c,
        jobs.c,
    )
    where: list[Any] = [c.organization_id == organization_id]
    if shown == "exceptions":  # whatever discovery has said of them since
        where.append(x.service_account_id.is_not(None))
    else:
        classes = LEAVER_CLASSES if shown == "all" else (shown,)
        where += [
            effective_classification().in_(classes),
            effectively_active(),
            x.service_account_id.is_(None),
        ]
    if integration_id is not None:
        where.append(c.integration_id == integration_id)
    if after is not None:
        where.append(sa.tuple_(c.integration_id, c.id) > sa.tuple_(*after))
    last_job = (
        sa.select(j.id)
        .where(
            j.integration_id == c.integration_id,
            j.user_id == _subject(c),
            j.operation.in_(("deactivate", "deprovision")),
        )
        .order_by(j.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    latest = jobs.alias("latest")
    return (
        sa.select(
            c.id,
            c.integration_id,
            i.display_name.label("integration_name"),
            c.account_id,
            effective_classification().label("classification"),
            c.remote_email,
            c.user_id,
            r.name.label("user_name"),
            r.display_name.label("user_display_name"),
            r.active.label("user_active"),
            c.last_access_time,
            c.last_seen,
            latest.c.status.label("job_status"),
            latest.c.last_error.label("job_error"),
            x.reason.label("exception_reason"),
            x.created_by.label("exception_by"),
            x.created.label("exception_at"),
        )
        .join(
            integrations, sa.and_(i.organization_id == c.organization_id, i.id == c.integration_id)
        )
        .outerjoin(resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id))
        .outerjoin(account_exceptions, x.service_account_id == c.id)
        .outerjoin(latest, latest.c.id == last_job)
        .where(*where)
        .order_by(c.integration_id, c.id)
        .limit(limit)
    )


class SqlDashboard:
    """The dashboard's reads, over the SQL store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def health(self, organization_id: str) -> list[IntegrationHealth]:
        """Every integration of the organization, by name."""
        i, ic, s, j = integrations.c, integration_connectors.c, sync_runs.c, jobs.c
        last_run = (
            sa.select(s.status)
            .where(s.integration_id == i.id)
            .order_by(s.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        with transaction(self.engine, write=False) as conn:
            dead: dict[int, int] = dict(
                conn.execute(
                    sa.select(j.integration_id, sa.func.count())
                    .where(j.organization_id == organization_id, j.status == "dead")
                    .group_by(j.integration_id)
                ).all()
            )
            rows = conn.execute(
                sa.select(
                    i.id,
                    i.display_name,
                    ic.connector,
                    i.status,
                    i.provisioning_enabled,
                    ic.quarantined_since,
                    ic.quarantine_next_trial,
                    ic.last_sync_started,
                    ic.last_sync_finished,
                    ic.last_successful_sync,
                    last_run.label("last_run_status"),
                    ic.last_error,
                    ic.last_error_at,
                )
                .outerjoin(integration_connectors, ic.integration_id == i.id)
                .where(i.organization_id == organization_id)
                .order_by(i.display_name, i.id)
            ).all()
        return [
            IntegrationHealth(**row._mapping, dead_jobs=int(dead.get(row.id, 0))) for row in rows
        ]

    def leavers(
        self,
        organization_id: str,
        *,
        shown: Shown = "all",
        integration_id: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 51,
    ) -> list[LeaverRow]:
        query = leavers_query(
            organization_id,
            shown=shown,
            integration_id=integration_id,
            after=after,
            limit=limit,
        )
        with transaction(self.engine, write=False) as conn:
            return [LeaverRow(**row._mapping) for row in conn.execute(query)]

    def counts(self, organization_id: str, health: list[IntegrationHealth]) -> DashboardCounts:
        """The numbers at the top; ``health`` is :meth:`health` of the same page."""
        c, x, r = service_accounts.c, account_exceptions.c, resources.c
        # Grouped outside: PostgreSQL does not see two renderings of the expression
        # (with their own bound literals) as the same GROUP BY key.
        leavers = (
            sa.select(effective_classification().label("cls"))
            .select_from(service_accounts)
            .outerjoin(
                resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id)
            )
            .outerjoin(account_exceptions, x.service_account_id == c.id)
            .where(
                c.organization_id == organization_id,
                effective_classification().in_(LEAVER_CLASSES),
                effectively_active(),
                x.service_account_id.is_(None),
            )
            .subquery("leavers")
        )
        with transaction(self.engine, write=False) as conn:
            active: dict[str, int] = dict(
                conn.execute(
                    sa.select(leavers.c.cls, sa.func.count()).group_by(leavers.c.cls)
                ).all()
            )
            excepted = conn.execute(
                sa.select(sa.func.count()).where(x.organization_id == organization_id)
            ).scalar_one()
        return DashboardCounts(
            attention=sum(1 for h in health if h.needs_attention),
            retired=int(active.get("retired", 0)),
            orphans=int(active.get("unknown", 0)),
            exceptions=int(excepted),
        )
