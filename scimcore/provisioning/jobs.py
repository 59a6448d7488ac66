"""Provisioning jobs: what the worker does for each event, and when it tries again.

Each event about a User becomes one job per integration with provisioning enabled
(:func:`plan_jobs`); jobs of one user in one integration run in event order. The
idempotency key is derived from the event, so planning an event twice can never make a
second job, and a retried job sends the same key downstream.
Retry timing is exponential backoff with full jitter, or the server's Retry-After
(:func:`next_delay`; docs/connectors.md).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

from . import events as ev
from .events import Event

Operation: TypeAlias = Literal["provision", "update", "deactivate", "reactivate", "deprovision"]
JobStatus: TypeAlias = Literal["pending", "running", "succeeded", "dead"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "succeeded", "dead")
IntegrationStatus: TypeAlias = Literal[
    "pending_auth",
    "ready",
    "syncing",
    "synced",
    "sync_failed",
    "needs_reauth",
    "disabled",
    "quarantined",
]

#: Event type -> the operation run for it in each integration.
OPERATIONS: dict[str, Operation] = {
    ev.USER_CREATED: "provision",
    ev.USER_UPDATED: "update",
    ev.USER_DEACTIVATED: "deactivate",
    ev.USER_REACTIVATED: "reactivate",
    ev.USER_DELETED: "deprovision",
    ev.ACCOUNT_LINKED: "provision",
    ev.ACCOUNT_UPDATED: "update",
    ev.ACCOUNT_UNLINKED: "deprovision",
}
#: Sources whose events drive provisioning (the engine's own events never do).
PLANNED_SOURCES = ("scim", "csv", "admin")

#: How a job about an account nobody owns (an orphan's, queued from the dashboard or
#: ``scimserver accounts deprovision``) names its subject: ``jobs.user_id`` is never NULL,
#: and a user id (a UUID) never has this prefix.
ACCOUNT_SUBJECT_PREFIX = "service-account:"

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class JobSpec:
    integration_id: int
    user_id: str
    operation: Operation
    payload: Mapping[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class Job:
    id: int
    organization_id: str
    integration_id: int
    user_id: str
    operation: Operation
    payload: Mapping[str, Any]
    idempotency_key: str
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime
    event_id: int | None = None
    last_error: str | None = None
    created: datetime | None = None
    result: Mapping[str, Any] = field(default_factory=dict)


def idempotency_key(
    org: str, integration_id: int, operation: str, target: str, version: str
) -> str:
    """sha256(org | integration | operation | target | desired-state version)."""
    raw = "|".join((org, str(integration_id), operation, target, version))
    return hashlib.sha256(raw.encode()).hexdigest()


def account_subject(service_account_id: int) -> str:
    """The ``jobs.user_id`` of a job about the account ``service_account_id`` itself."""
    return f"{ACCOUNT_SUBJECT_PREFIX}{service_account_id}"


def subject_user(subject: str) -> str | None:
    """The user a job is about; ``None`` for a job about an account nobody owns."""
    return None if subject.startswith(ACCOUNT_SUBJECT_PREFIX) else subject


def plan_jobs(event: Event, integration_ids: list[int]) -> list[JobSpec]:
    """The jobs for ``event`` given the organization's provisioning integrations.

    User events go to every provisioning integration (the job finds out whether the
    user has an account there); account events from the CSV only to their own.
    """
    operation = OPERATIONS.get(event.type)
    if operation is None or event.source not in PLANNED_SOURCES:
        return []
    targets = integration_ids
    user_id = event.resource_id
    if event.resource_type == "ServiceAccount":
        wanted = event.data.get("integration_id")
        targets = [i for i in integration_ids if i == wanted]
        user_id = str(event.data.get("user_id") or "")
        if not user_id:
            return []
    return [
        JobSpec(
            integration_id=i,
            user_id=user_id,
            operation=operation,
            payload=dict(event.data),
            idempotency_key=idempotency_key(
                event.organization_id, i, operation, user_id, f"event:{event.id}"
            ),
        )
        for i in targets
    ]


def next_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry number ``attempt`` (1-based): Retry-After when given, else
    ``random(0, min(cap, base * 2**attempt))`` (full jitter)."""
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0, ceiling)
