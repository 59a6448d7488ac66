"""Provisioning in the core: events (the transactional outbox) and jobs.

The connectors that carry jobs out, and the worker, are adapters
(:mod:`scimcore.adapters.connectors`); the core only says what happened and what must
be done, so the service and the CSV importers never depend on a connector.
"""

from .events import Event, EventRecorder, NewEvent, record_changes, resource_events, user_snapshot
from .jobs import Job, JobSpec, JobStatus, Operation, idempotency_key, next_delay, plan_jobs

__all__ = [
    "Event",
    "EventRecorder",
    "Job",
    "JobSpec",
    "JobStatus",
    "NewEvent",
    "Operation",
    "idempotency_key",
    "next_delay",
    "plan_jobs",
    "record_changes",
    "resource_events",
    "user_snapshot",
]
