"""Per-integration call slots shared by every worker on one database.

An integration's ``min_interval_ms`` is a limit on what the *service* receives, so it
must hold over all workers, not per worker. Each request first reserves the next free
slot with one ``UPDATE ... RETURNING`` of ``integration_connectors.next_call_us``::

    next_call_us = max(next_call_us, now) + gap      -- the slot is the value minus gap

The database serializes the updates of one row (PostgreSQL's row lock, re-evaluated
after a wait; SQLite's single writer), so two workers never get the same slot and
consecutive slots are ``gap`` apart whatever the number of workers. The worker then
sleeps until its slot. Times are microseconds since the epoch: on PostgreSQL the
database's own clock (``clock_timestamp()``, so workers on hosts with skewed clocks
still agree); on SQLite, which is one file on one host, this host's clock, read after
the write lock is taken.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import transaction
from .tables import integration_connectors

_MICROS = 1_000_000


def _pg_now_us() -> sa.ColumnElement[int]:
    return sa.cast(
        sa.func.floor(sa.extract("epoch", sa.func.clock_timestamp()) * _MICROS), sa.BigInteger
    )


def reserve_call(
    engine: Engine, organization_id: str, integration_id: int, gap: timedelta
) -> float:
    """Reserve the integration's next call slot; seconds to wait for it (0: go now).

    An integration that is not bound to a connector has no slot and never waits.
    """
    gap_us = int(gap.total_seconds() * _MICROS)
    if gap_us <= 0:
        return 0.0
    ic = integration_connectors.c
    sqlite = engine.dialect.name == "sqlite"
    with transaction(engine) as conn:
        now: sa.ColumnElement[int] = (
            sa.literal(int(time.time() * _MICROS), sa.BigInteger) if sqlite else _pg_now_us()
        )
        free = sa.func.coalesce(ic.next_call_us, 0)
        row = conn.execute(
            sa.update(integration_connectors)
            .where(ic.organization_id == organization_id, ic.integration_id == integration_id)
            .values(next_call_us=sa.case((free > now, free), else_=now) + gap_us)
            .returning(ic.next_call_us - gap_us, now)
        ).first()
    if row is None:
        return 0.0
    slot, db_now = int(row[0]), int(row[1])
    if sqlite:
        db_now = int(time.time() * _MICROS)
    return max(0.0, (slot - db_now) / _MICROS)
