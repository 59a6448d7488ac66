"""Pruning the event outbox: old events go, events still needed stay.

Every change is recorded in ``events`` (the transactional outbox), so the table grows
with every write. Once planned into jobs, an event is history; it is deleted when it
is older than the retention, unless the worker still needs it:

* an event not yet planned (no worker has turned it into jobs) is never deleted;
* an event with a ``pending`` or ``running`` job is kept until that job ends.

Each call deletes one bounded batch in its own short transaction, oldest first, so
pruning a large backlog never holds locks for long. On PostgreSQL the batch's rows
are locked with ``SKIP LOCKED``: two workers pruning at once take different rows.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import transaction
from .tables import events, jobs

#: Events deleted per transaction unless told otherwise.
PRUNE_BATCH = 1000


def prune_events(engine: Engine, before: datetime, *, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` planned events created before ``before`` that no open job
    refers to; the number deleted (less than ``limit``: nothing more to prune now)."""
    e, j = events.c, jobs.c
    still_needed = sa.select(j.event_id).where(
        j.status.in_(("pending", "running")), j.event_id.is_not(None)
    )
    with transaction(engine) as conn:
        ids = list(
            conn.execute(
                sa.select(e.id)
                .where(e.created < before, e.planned, e.id.not_in(still_needed))
                .order_by(e.id)
                .limit(max(1, limit))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return 0
        conn.execute(sa.delete(events).where(e.id.in_(ids)))
    return len(ids)
