"""Scheduled discovery's claims on the SQL tables (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...provisioning.store import SyncCandidate
from .provisioning import PARKED
from .tables import integration_connectors, integrations


class SqlSyncSchedule:
    """:class:`SyncSchedule` on the SQL tables (SQLite and PostgreSQL).

    ``claim`` is one conditional ``UPDATE`` of ``last_sync_started`` that repeats the
    due test in its ``WHERE``: of two workers claiming the same integration, the second
    finds the row already stamped (on PostgreSQL it waits for the first one's row lock,
    then re-checks the condition) and updates nothing.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def candidates(self) -> list[SyncCandidate]:
        i, ic = integrations.c, integration_connectors.c
        query = (
            sa.select(
                ic.organization_id,
                ic.integration_id,
                ic.connector,
                ic.settings,
                ic.last_sync_started,
                ic.last_sync_finished,
            )
            .join(
                integrations,
                sa.and_(i.organization_id == ic.organization_id, i.id == ic.integration_id),
            )
            .where(i.status.not_in(PARKED))
            .order_by(ic.last_sync_started.is_not(None), ic.last_sync_started)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SyncCandidate(
                r.organization_id,
                int(r.integration_id),
                r.connector,
                r.settings if isinstance(r.settings, Mapping) else {},
                r.last_sync_started,
                r.last_sync_finished,
            )
            for r in rows
        ]

    def claim(
        self,
        candidate: SyncCandidate,
        *,
        now: datetime,
        interval: timedelta,
        lease: timedelta,
    ) -> bool:
        ic = integration_connectors.c
        started = ic.last_sync_started
        due = sa.or_(
            started.is_(None),
            sa.and_(
                started <= now - interval,
                sa.or_(ic.last_sync_finished >= started, started <= now - lease),
            ),
        )
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(integration_connectors)
                .where(
                    ic.organization_id == candidate.organization_id,
                    ic.integration_id == candidate.integration_id,
                    due,
                )
                .values(last_sync_started=now)
            )
        return bool(done.rowcount == 1)
