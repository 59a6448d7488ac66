"""The storage protocol of the provisioning engine, and the values crossing it.

Rules every implementation follows:

* :meth:`ProvisioningStore.plan` turns each unplanned event into its jobs and marks it
  planned in one transaction; concurrent callers never plan one event twice.
* :meth:`ProvisioningStore.claim` hands each job to one worker at a time: a claimed
  job is ``running`` with a lease (``locked_until``); a worker that dies loses its
  jobs when the lease ends, and they are claimed again. A job is not claimed while an
  earlier open job of the same user in the same integration exists, while its
  integration is parked (``needs_reauth``, ``disabled``) or paused (Retry-After), or
  beyond the integration's ``max_concurrency``. Of a ``quarantined`` integration, one
  job is claimed when its next trial is due (:mod:`.quarantine`), by one worker.
* :meth:`ProvisioningStore.finish` applies a job's outcome, its change to the service
  account and its events in one transaction, and only if the worker still holds the
  lease: a job is never finished twice. In the same transaction a succeeded job lifts
  its integration's quarantine and a dead one may start it.
* :meth:`ProvisioningStore.reserve_call` hands out an integration's request slots
  ``min_interval_ms`` apart over all workers, reserved atomically in the database, so
  the rate limit holds however many workers run.
* Discovery results (:meth:`ProvisioningStore.apply_discovery`) are written in one
  transaction, so a failed run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeAlias

from ..accounts.models import Integration, LinkMethod
from .events import NewEvent
from .jobs import Job, JobStatus

Classification: TypeAlias = Literal["managed", "retired", "external", "unknown"]
RemoteStatus: TypeAlias = Literal["active", "suspended", "deleted", "unknown"]


@dataclass(frozen=True)
class Binding:
    """An integration with the connector that serves it (``integration_connectors``)."""

    integration: Integration
    connector: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    max_concurrency: int = 4
    #: Minimum gap between two requests to the service, over all workers.
    min_interval_ms: int = 0
    paused_until: datetime | None = None
    #: While ``quarantined`` (:mod:`.quarantine`): since when, and the next trial.
    quarantined_since: datetime | None = None
    quarantine_next_trial: datetime | None = None
    last_error: str | None = None
    last_successful_sync: datetime | None = None
    account_count: int | None = None


@dataclass(frozen=True)
class Link:
    """A user's account in one integration, as the engine needs it."""

    id: int
    user_id: str | None
    account_id: str
    remote_id: str | None
    remote_status: str | None
    classification: str | None = None
    link_method: str | None = None
    #: What the service-account CSV (or the console) set on this account for the
    #: service: ``mail_proxy_active``, ``license_profile``, ``immutable_id`` (only those
    #: set); the worker hands them to the connector as :attr:`AccountSpec.extras`.
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkChange:
    """What a finished job changes on the user's service account."""

    remove: bool = False
    account_id: str | None = None
    remote_id: str | None = None
    remote_status: RemoteStatus | None = None
    remote_email: str | None = None
    link_method: LinkMethod = "created_by_us"


@dataclass(frozen=True)
class Outcome:
    """How a claimed job ended: done, to be retried at ``run_after``, or dead."""

    status: JobStatus
    error: str | None = None
    run_after: datetime | None = None
    count_attempt: bool = True
    result: Mapping[str, Any] = field(default_factory=dict)
    link: LinkChange | None = None
    events: Sequence[NewEvent] = ()


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    user_name: str
    emails: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class DiscoveryState:
    users: Sequence[DirectoryUser]
    accounts: Sequence[Link]
    domains: frozenset[str]


@dataclass(frozen=True)
class Observation:
    """One remote account as discovery classified it; ``link_id`` when already stored."""

    link_id: int | None
    user_id: str | None
    account_id: str
    remote_id: str
    remote_status: RemoteStatus
    remote_email: str | None
    classification: Classification
    newly_linked: bool = False
    #: The last sign-in the service reported (UTC); ``None``: it reports none.
    last_access_time: datetime | None = None


@dataclass(frozen=True)
class SyncRun:
    id: int
    integration_id: int
    kind: str
    status: str
    started: datetime
    finished: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


class ProvisioningStore(Protocol):
    def bind(
        self,
        organization_id: str,
        integration_id: int,
        connector: str,
        settings: Mapping[str, Any],
        *,
        max_concurrency: int = 4,
        min_interval_ms: int = 0,
    ) -> Binding: ...

    def binding(self, organization_id: str, integration_id: int) -> Binding | None: ...

    def set_provisioning(
        self, organization_id: str, integration_id: int, enabled: bool, *, manual: bool
    ) -> None:
        """Switch provisioning of an integration on or off (and whether it is manual)."""
        ...

    def plan(self, limit: int = 500) -> int:
        """Plan up to ``limit`` unplanned events into jobs; returns how many events it
        planned (an event may make no job), so 0 means none is left waiting."""
        ...

    def claim(self, worker: str, limit: int, lease: timedelta) -> list[Job]: ...

    def finish(self, job: Job, worker: str, outcome: Outcome) -> bool: ...

    def link(self, organization_id: str, integration_id: int, user_id: str) -> Link | None: ...

    def set_integration_status(
        self, organization_id: str, integration_id: int, status: str, error: str | None = None
    ) -> None: ...

    def pause(self, organization_id: str, integration_id: int, until: datetime) -> None: ...

    def lift_quarantine(self, organization_id: str, integration_id: int) -> bool: ...

    def prune_events(self, before: datetime, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` events created before ``before``, never one that is
        not planned yet or that a pending or running job refers to; how many went."""
        ...

    def reserve_call(self, organization_id: str, integration_id: int, gap: timedelta) -> float:
        """Reserve the integration's next request slot, ``gap`` after the one before it
        over all workers; the seconds to wait before sending (0: send now)."""
        ...

    def record_events(self, organization_id: str, events: Sequence[NewEvent]) -> None: ...

    def jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]: ...

    def retry(self, job_id: int) -> bool: ...

    def discovery_state(self, organization_id: str, integration_id: int) -> DiscoveryState: ...

    def start_run(self, organization_id: str, integration_id: int, kind: str) -> SyncRun: ...

    def fail_run(
        self, organization_id: str, run: SyncRun, error: str, *, status: str = "sync_failed"
    ) -> SyncRun: ...

    def apply_discovery(
        self,
        organization_id: str,
        run: SyncRun,
        observations: Sequence[Observation],
        missing: Sequence[int],
        counts: Mapping[str, int],
        events: Sequence[NewEvent],
    ) -> SyncRun: ...


@dataclass(frozen=True)
class SyncCandidate:
    """A bound, not parked integration and its last sync stamps."""

    organization_id: str
    integration_id: int
    connector: str
    settings: Mapping[str, Any]
    last_started: datetime | None
    last_finished: datetime | None


class SyncSchedule(Protocol):
    """Where scheduled discovery finds integrations and claims one.

    ``scimcore.storage.sql.schedule.SqlSyncSchedule`` implements it on the SQL tables.
    """

    def candidates(self) -> list[SyncCandidate]: ...

    def claim(
        self,
        candidate: SyncCandidate,
        *,
        now: datetime,
        interval: timedelta,
        lease: timedelta,
    ) -> bool: ...
