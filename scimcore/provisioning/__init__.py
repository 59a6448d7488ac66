"""Provisioning, all of it in one package: what happens downstream when a user changes.

* :mod:`.events`: the transactional outbox every change writes to;
* :mod:`.jobs`: which jobs an event makes, backoff, idempotency keys;
* :mod:`.store`: the storage protocol (bindings, jobs, links, discovery runs);
* :mod:`.connector` and :mod:`.errors`: the port every connector implements, and its
  error tree; :mod:`.registry`: the connectors installed (entry points);
* :mod:`.worker`: plans events into jobs and runs them (retries, dead letter,
  deprovision policy), :mod:`.pacing` and :mod:`.quarantine` its limits;
* :mod:`.discovery`: reads a service's accounts and classifies them.

The connectors themselves, their HTTP client and credentials are adapters
(:mod:`scimcore.adapters.connectors`) and are never imported here; the SQL
implementation of the store is :mod:`scimcore.storage.sql.provisioning`. The SCIM
service and the CSV importers only write events: they never depend on a connector.
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
