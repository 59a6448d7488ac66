"""The provisioning worker: plans events into jobs and carries jobs out with connectors.

The engine, not the connector, owns retries, idempotency, matching and events
(docs/connectors.md). One :meth:`Worker.run_once` plans new events, claims a batch of jobs
(:meth:`~scimcore.provisioning.store.ProvisioningStore.claim`) and runs each:

* ``provision``: the linked account is brought to the desired state; with no link, an
  existing remote account is found (login, e-mail, externalId) and linked, else one
  is created; ``AlreadyExists`` from a race links the one that exists.
* ``update``: the linked account gets the user's current values (an unlinked, active
  user is provisioned).
* ``deactivate`` / ``deprovision``: the integration's ``on_service_account_delete``
  policy: deactivate (default), delete, or nothing.
* ``reactivate``: the account is reactivated (and re-created if the policy deleted it).

Errors decide what happens next: a retryable one retries with full-jitter backoff, or
after the service's Retry-After (which also pauses the integration for every worker);
an :class:`~.errors.AuthenticationFailed` parks the integration as ``needs_reauth`` and
its jobs wait, untouched, for new credentials (no retry storm); a permanent one, or
running out of attempts, leaves the job ``dead`` for ``scimserver jobs retry``. A job
is retried with the same idempotency key, and a job interrupted after the remote call
(a killed worker) finds the account it made instead of making a second one.

An integration's ``min_interval_ms`` paces every request over all workers: each one
waits for a slot reserved in the database (:mod:`.pacing`).

Given a ``discovery`` scheduler (:class:`~.discovery.DiscoveryScheduler`), each round
also runs one due discovery sync after the batch of jobs. Given a ``retention``, the
worker also deletes events older than that (``ProvisioningStore.prune_events``) every
``prune_every``, in bounded batches.

One module, though long: one job's life (claim, call the connector, retry or dead
letter, the link and its events, the integration's status) is read top to bottom here;
planning is :mod:`scimcore.storage.sql.planning`, discovery :mod:`.discovery`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .connector import AccountRef, AccountSpec, Auth, Capability, Connector, ConnectorContext
from .connector import RemoteAccount as Remote
from .errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
    UnsupportedOperation,
)
from .events import NewEvent
from .jobs import Job, next_delay, subject_user
from .pacing import PacedAuth
from .registry import load
from .store import Binding, Link, LinkChange, Outcome, ProvisioningStore

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=5)
#: How often a worker with a retention prunes old events, and how much per round.
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 1000
PRUNE_BATCHES = 10
#: Longest an error message kept on a job or an integration.
MAX_ERROR = 500


class CredentialSource(Protocol):
    """Hands the worker an :class:`~.base.Auth` for an integration, at the last moment."""

    def auth_for(self, binding: Binding, connector: Connector) -> Auth: ...


class _RunResult(Protocol):
    @property
    def ok(self) -> bool: ...


class ScheduledDiscovery(Protocol):
    """Runs due discovery syncs (:class:`~.discovery.DiscoveryScheduler`)."""

    def run_due(self, limit: int = 1) -> Sequence[_RunResult]: ...


@dataclass
class WorkerStats:
    #: Events planned (into zero or more jobs each).
    planned: int = 0
    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    parked: int = 0
    lost: int = 0
    #: Scheduled discovery runs, and how many of them failed.
    synced: int = 0
    sync_failed: int = 0
    #: Events deleted because they were older than the retention.
    pruned: int = 0

    def add(self, other: WorkerStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Result:
    result: dict[str, Any] = field(default_factory=dict)
    link: LinkChange | None = None
    events: list[NewEvent] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """Runs provisioning jobs; safe to run many at once on PostgreSQL."""

    def __init__(
        self,
        store: ProvisioningStore,
        credentials: CredentialSource,
        *,
        worker_id: str | None = None,
        batch_size: int = 20,
        lease: timedelta = DEFAULT_LEASE,
        timeout: float = 10.0,
        max_response_bytes: int = 2 * 1024 * 1024,
        loader: Callable[[str], Connector] = load,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        discovery: ScheduledDiscovery | None = None,
        retention: timedelta | None = None,
        prune_every: timedelta = PRUNE_EVERY,
        prune_batch: int = PRUNE_BATCH,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch_size = batch_size
        self.lease = lease
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.loader = loader
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.discovery = discovery
        self.retention = retention
        self.prune_every = prune_every
        self.prune_batch = max(1, prune_batch)
        self._next_prune = 0.0
        self._blocked: set[int] = set()

    # -- loop -------------------------------------------------------------------------------

    def run_once(self) -> WorkerStats:
        """Plan new events, then claim and run one batch of jobs."""
        stats = WorkerStats(planned=self.store.plan())
        claimed = self.store.claim(self.worker_id, self.batch_size, self.lease)
        stats.claimed = len(claimed)
        self._blocked = set()
        for job in claimed:
            self._run(job, stats)
        if self.discovery is not None:
            try:
                for result in self.discovery.run_due(limit=1):
                    stats.synced += 1
                    stats.sync_failed += 0 if result.ok else 1
            except Exception:  # discovery must never stop provisioning
                log.exception("scheduled discovery failed")
        if self.retention is not None and time.monotonic() >= self._next_prune:
            try:
                stats.pruned = self._prune(self.retention)
            except Exception:  # nor must pruning
                log.exception("pruning events failed")
        return stats

    def _prune(self, retention: timedelta) -> int:
        """At most :data:`PRUNE_BATCHES` batches; a backlog left over is pruned next round."""
        before = _now() - retention
        pruned = 0
        for _ in range(PRUNE_BATCHES):
            deleted = self.store.prune_events(before, limit=self.prune_batch)
            pruned += deleted
            if deleted < self.prune_batch:
                self._next_prune = time.monotonic() + self.prune_every.total_seconds()
                break
        if pruned:
            log.info("pruned %s events older than %s", pruned, before.isoformat())
        return pruned

    def run(
        self,
        *,
        max_seconds: float | None = None,
        idle_sleep: float = 1.0,
        stop: threading.Event | None = None,
        until_idle: bool = False,
    ) -> WorkerStats:
        """Loop until ``stop`` is set, ``max_seconds`` pass, or (``until_idle``) nothing is left."""
        total = WorkerStats()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not (stop and stop.is_set()):
            stats = self.run_once()
            total.add(stats)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not stats.claimed and not stats.planned and not stats.synced:
                if until_idle:
                    break
                self.sleep(idle_sleep)
        return total

    # -- one job ----------------------------------------------------------------------------

    def _run(self, job: Job, stats: WorkerStats) -> None:
        outcome = self._outcome(job)
        if outcome.status == "succeeded":
            stats.succeeded += 1
        elif outcome.status == "dead":
            stats.dead += 1
        elif not outcome.count_attempt:
            stats.parked += 1
        else:
            stats.retried += 1
        if not self.store.finish(job, self.worker_id, outcome):
            stats.lost += 1
            log.warning("job %s: lease lost before it finished; another worker has it", job.id)

    def _outcome(self, job: Job) -> Outcome:
        if job.integration_id in self._blocked:
            # Parked or rate-limited earlier in this batch: hand the job back untouched.
            return Outcome("pending", error=job.last_error, count_attempt=False)
        binding = self.store.binding(job.organization_id, job.integration_id)
        if binding is None:
            return Outcome("dead", error="the integration no longer exists")
        try:
            connector = self.loader(binding.connector)
            ctx = ConnectorContext(
                organization_id=job.organization_id,
                integration_id=job.integration_id,
                settings=binding.settings,
                auth=self._paced(binding, self.credentials.auth_for(binding, connector)),
                timeout=self.timeout,
                max_response_bytes=self.max_response_bytes,
            )
            done = self._execute(job, binding, connector, ctx)
        except RateLimited as exc:
            delay = next_delay(job.attempts + 1, exc.retry_after, rng=self.rng)
            until = _now() + timedelta(seconds=delay)
            if exc.retry_after is not None:
                self.store.pause(job.organization_id, job.integration_id, until)
                self._blocked.add(job.integration_id)
            return self._retry(job, exc, until)
        except AuthenticationFailed as exc:
            self._blocked.add(job.integration_id)
            message = _clip(exc.message)
            self.store.set_integration_status(
                job.organization_id, job.integration_id, "needs_reauth", message
            )
            self.store.record_events(
                job.organization_id,
                [
                    NewEvent(
                        "integration.status_changed",
                        "Integration",
                        str(job.integration_id),
                        {"to": "needs_reauth", "error_code": exc.code},
                        "engine",
                    )
                ],
            )
            log.warning("integration %s needs re-authorization", job.integration_id)
            # The job waits, unchanged, until the integration is re-authorized.
            return Outcome("pending", error=message, count_attempt=False)
        except ConnectorError as exc:
            if exc.retryable:
                delay = next_delay(job.attempts + 1, rng=self.rng)
                return self._retry(job, exc, _now() + timedelta(seconds=delay))
            return self._dead(job, exc.code, exc.message)
        except Exception as exc:  # a connector bug must not stop the worker
            log.exception("job %s: unexpected %s", job.id, type(exc).__name__)
            delay = next_delay(job.attempts + 1, rng=self.rng)
            error = TransientError(f"unexpected {type(exc).__name__} in the connector")
            return self._retry(job, error, _now() + timedelta(seconds=delay))
        return Outcome("succeeded", result=done.result, link=done.link, events=done.events)

    def _retry(self, job: Job, exc: ConnectorError, when: datetime) -> Outcome:
        if job.attempts + 1 >= job.max_attempts:
            return self._dead(
                job, exc.code, f"gave up after {job.attempts + 1} attempts: {exc.message}"
            )
        return Outcome("pending", error=_clip(exc.message), run_after=when)

    def _dead(self, job: Job, code: str, message: str) -> Outcome:
        data = {
            "job_id": job.id,
            "operation": job.operation,
            "error_code": code,
            "integration_id": job.integration_id,
        }
        if subject_user(job.user_id) is None:  # an orphan's account
            account = str(job.payload.get("account_id") or "")
            ref = f"{job.integration_id}:{account}"
            event = NewEvent("provisioning.failed", "ServiceAccount", ref, data, "engine")
        else:
            event = NewEvent("provisioning.failed", "User", job.user_id, data, "engine")
        return Outcome("dead", error=_clip(message), events=[event])

    def _paced(self, binding: Binding, auth: Auth) -> Auth:
        """The integration's rate limit: each request waits for a slot reserved in the
        database, ``min_interval_ms`` after the previous one of *any* worker."""
        if binding.min_interval_ms <= 0:
            return auth
        gap = timedelta(milliseconds=binding.min_interval_ms)
        integration = binding.integration

        def wait() -> None:
            delay = self.store.reserve_call(integration.organization_id, integration.id, gap)
            if delay > 0:
                self.sleep(delay)

        return PacedAuth(auth, wait)

    # -- operations -------------------------------------------------------------------------

    def _execute(
        self, job: Job, binding: Binding, connector: Connector, ctx: ConnectorContext
    ) -> _Result:
        link = self.store.link(job.organization_id, job.integration_id, job.user_id)
        op = job.operation
        if op == "provision":
            return self._provision(job, connector, ctx, link)
        if op == "update":
            if link is None:
                if job.payload.get("active", True) is False:
                    return _Result({"skipped": "no account and the user is inactive"})
                return self._provision(job, connector, ctx, link)
            return self._update(job, connector, ctx, link)
        if op == "reactivate":
            if link is None:
                return self._provision(job, connector, ctx, link)
            _require(connector, Capability.REACTIVATE)
            account = connector.reactivate_account(
                ctx, _ref(link), idempotency_key=job.idempotency_key
            )
            done = self._update(job, connector, ctx, link)
            done.events.insert(0, _account_event("account.reactivated", job, link.account_id))
            if account is not None and done.link is None:
                done.link = _change(account, "active")
            return done
        # deactivate, deprovision: the integration's policy decides.
        policy = binding.integration.settings.on_service_account_delete
        if policy == "nothing":
            return _Result({"skipped": "the integration's policy is to leave accounts"})
        refs = self._targets(job, connector, ctx, link)
        if not refs:
            return _Result({"skipped": "no account to deprovision"})
        outcome: dict[str, Any] = {"policy": policy, "accounts": len(refs)}
        if (
            policy == "delete_remote"
            and Capability.DELETE not in connector.capabilities
            and Capability.DEACTIVATE in connector.capabilities
        ):
            # The service keeps its accounts (Slack, Salesforce: no DELETE, or one that
            # only deactivates): deactivating is as far as removal goes there.
            policy = "deactivate_remote"
            outcome["applied"] = policy
            outcome["note"] = (
                f"the {connector.name} connector cannot delete accounts; deactivated instead"
            )
        events: list[NewEvent] = []
        for ref in refs:
            if policy == "delete_remote":
                _require(connector, Capability.DELETE)
                connector.delete_account(ctx, ref, idempotency_key=job.idempotency_key)
                events.append(_account_event("account.deleted", job, ref.account_id))
            else:
                _require(connector, Capability.DEACTIVATE)
                connector.deactivate_account(ctx, ref, idempotency_key=job.idempotency_key)
                events.append(_account_event("account.deactivated", job, ref.account_id))
        change = (
            LinkChange(remove=True)
            if policy == "delete_remote"
            else LinkChange(remote_status="suspended")
        )
        return _Result(outcome, change, events)

    def _targets(
        self, job: Job, connector: Connector, ctx: ConnectorContext, link: Link | None
    ) -> list[AccountRef]:
        if link is not None:
            return [_ref(link)]
        saved = [
            item
            for item in job.payload.get("links") or []
            if isinstance(item, dict) and item.get("integration_id") == job.integration_id
        ]
        if saved:
            return [
                AccountRef(remote_id=item.get("remote_id"), account_id=item.get("account_id"))
                for item in saved
                if item.get("remote_id") or item.get("account_id")
            ]
        if Capability.DISCOVER in connector.capabilities:
            spec = _spec(job, None)
            found = connector.find_account(
                ctx, account_id=spec.account_id, email=spec.email, external_id=job.user_id
            )
            if found is not None:
                return [AccountRef(remote_id=found.remote_id, account_id=found.login)]
        return []

    def _provision(
        self, job: Job, connector: Connector, ctx: ConnectorContext, link: Link | None
    ) -> _Result:
        spec = _spec(job, link)
        if link is not None and (
            link.remote_id or Capability.DISCOVER not in connector.capabilities
        ):
            return self._update(job, connector, ctx, link)
        found = None
        if Capability.DISCOVER in connector.capabilities:
            found = connector.find_account(
                ctx, account_id=spec.account_id, email=spec.email, external_id=job.user_id
            )
        if found is None:
            _require(connector, Capability.CREATE)
            try:
                account = connector.create_account(ctx, spec, idempotency_key=job.idempotency_key)
            except AlreadyExists as exc:
                found = exc.existing or connector.find_account(ctx, account_id=spec.account_id)
                if found is None:
                    raise TransientError("the account exists but cannot be found yet") from None
            else:
                return _Result(
                    {"remote_id": account.remote_id, "created": True},
                    _change(account, None, "created_by_us"),
                    [_account_event("account.created", job, account.login)],
                )
        account = found
        if Capability.UPDATE in connector.capabilities:
            account = connector.update_account(
                ctx, _found_ref(found), spec, idempotency_key=job.idempotency_key
            )
        return _Result(
            {"remote_id": account.remote_id, "linked": True},
            _change(account, None, "auto_matched"),
            [_account_event("account.linked", job, account.login, method="auto_matched")],
        )

    def _update(self, job: Job, connector: Connector, ctx: ConnectorContext, link: Link) -> _Result:
        spec = _spec(job, link)
        if Capability.UPDATE not in connector.capabilities:
            return _Result({"skipped": "the connector does not update accounts"})
        account = connector.update_account(
            ctx, _ref(link), spec, idempotency_key=job.idempotency_key
        )
        return _Result(
            {"remote_id": account.remote_id},
            _change(account, None),
            [_account_event("account.updated", job, link.account_id)],
        )


def _require(connector: Connector, capability: Capability) -> None:
    if capability not in connector.capabilities:
        raise UnsupportedOperation(
            f"the {connector.name} connector does not support {capability.name}"
        )


def _spec(job: Job, link: Link | None) -> AccountSpec:
    p = job.payload

    def text(key: str) -> str | None:
        value = p.get(key)
        return value if isinstance(value, str) and value else None

    login = link.account_id if link is not None else text("account_id") or text("userName")
    if not login:
        raise PermanentError("the user has no userName to use as the account id")
    return AccountSpec(
        account_id=login,
        email=text("email"),
        display_name=text("displayName"),
        given_name=text("givenName"),
        family_name=text("familyName"),
        external_id=job.user_id,
        active=p.get("active", True) is not False,
        extras=dict(link.extras) if link is not None else {},
    )


def _ref(link: Link) -> AccountRef:
    return AccountRef(remote_id=link.remote_id, account_id=link.account_id)


def _found_ref(account: Remote) -> AccountRef:
    return AccountRef(remote_id=account.remote_id, account_id=account.login)


def _change(account: Remote, status: str | None, method: str = "created_by_us") -> LinkChange:
    state = status or account.status
    return LinkChange(
        account_id=account.login,
        remote_id=account.remote_id,
        remote_status="active" if state == "active" else "suspended",
        remote_email=account.email,
        link_method="auto_matched" if method == "auto_matched" else "created_by_us",
    )


def _account_event(type: str, job: Job, account_id: str | None, **extra: Any) -> NewEvent:
    """An event of the job's user, or, for a job about an account nobody owns (an
    orphan's), of that service account, named as discovery names it."""
    user = subject_user(job.user_id)
    data = {
        "integration_id": job.integration_id,
        "user_id": user,
        "account_id": account_id,
        "job_id": job.id,
        **extra,
    }
    if user is None:
        return NewEvent(
            type, "ServiceAccount", f"{job.integration_id}:{account_id}", data, "engine"
        )
    return NewEvent(type, "User", job.user_id, data, "engine")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
