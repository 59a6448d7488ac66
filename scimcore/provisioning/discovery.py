"""Account discovery and classification (docs/connectors.md): ``scimserver sync ORG INTEGRATION``.

A run reads every account the connector lists, then decides, for each, who owns it:

1. its stored link (by remote id, then by account id), else
2. an exact, case-insensitive match of its login or e-mail with a user's ``userName``
   or one of their e-mails (never the display name);

and classifies it: ``managed`` (linked to an active user, or a deactivated user's
account that is no longer active), ``retired`` (the user is deactivated but the
account is still active), ``external`` (no owner, and its e-mail domain is not one of
the organization's domains) or ``unknown`` (no owner, our domain: an orphan).

The whole listing is read before anything is written, and the results are written in
one transaction: a run that fails half way (timeout, 5xx, auth failure) records the
failure and changes no account, so nothing is ever marked missing by a partial run.
Accounts not seen in a complete run are marked ``remote_status=deleted``.

Scheduled discovery (:class:`DiscoveryScheduler`, run by ``scimserver worker``): every
integration whose connector can list accounts is synced again once its interval has
passed since its last run (the ``sync_interval_seconds`` setting, default 6 hours, 0
for never). A worker claims a due integration by a compare-and-set of its
``last_sync_started`` stamp (``scimcore.storage.sql.schedule.SqlSyncSchedule``), so
two workers never sync the same integration at once; a run whose worker died is
claimable again after the lease.
Scheduled runs are recorded like manual ones, with kind ``scheduled``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .connector import Capability, Connector, ConnectorContext, RemoteAccount
from .errors import AuthenticationFailed, ConnectorError, UnsupportedOperation
from .events import NewEvent
from .registry import load
from .store import (
    Classification,
    DirectoryUser,
    DiscoveryState,
    Link,
    Observation,
    ProvisioningStore,
    SyncCandidate,
    SyncRun,
    SyncSchedule,
)
from .worker import CredentialSource

log = logging.getLogger(__name__)

#: Accounts one run reads at most (a guard against a service that never stops paging).
MAX_ACCOUNTS = 1_000_000
#: The integration setting holding the discovery interval in seconds (0: never).
SYNC_INTERVAL_SETTING = "sync_interval_seconds"
DEFAULT_SYNC_INTERVAL = timedelta(hours=6)
#: A scheduled run not finished after this long is presumed dead (its worker was killed).
DEFAULT_SYNC_LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class SyncResult:
    run: SyncRun
    observations: tuple[Observation, ...] = ()
    #: What the connector said about the run (a field its service would not give).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.run.status == "succeeded"


def _domain(value: str | None) -> str | None:
    if not value or "@" not in value:
        return None
    return value.rsplit("@", 1)[1].strip().lower() or None


def organization_domains(state: DiscoveryState) -> frozenset[str]:
    """The configured domains, or, when none are, those of the users' addresses."""
    if state.domains:
        return state.domains
    found = set()
    for user in state.users:
        for value in (user.user_name, *user.emails):
            if d := _domain(value):
                found.add(d)
    return frozenset(found)


def classify(
    remote: Sequence[RemoteAccount], state: DiscoveryState
) -> tuple[list[Observation], list[int]]:
    """Observations for every remote account, and the ids of stored accounts not seen."""
    users = {u.id: u for u in state.users}
    by_key: dict[str, DirectoryUser] = {}
    for user in state.users:
        for key in (user.user_name, *user.emails):
            if key:
                by_key.setdefault(key.lower(), user)
    by_remote = {a.remote_id: a for a in state.accounts if a.remote_id}
    by_account = {a.account_id.lower(): a for a in state.accounts}
    taken = {a.user_id for a in state.accounts if a.user_id}
    domains = organization_domains(state)
    seen: set[int] = set()
    out: list[Observation] = []
    for account in remote:
        stored: Link | None = by_remote.get(account.remote_id) or by_account.get(
            account.login.lower()
        )
        if stored is not None:
            if stored.id in seen:
                continue
            seen.add(stored.id)
        owner = users.get(stored.user_id) if stored and stored.user_id else None
        newly = False
        if owner is None and (stored is None or stored.user_id is None):
            match = by_key.get(account.login.lower()) or (
                by_key.get(account.email.lower()) if account.email else None
            )
            if match is not None and match.id not in taken:
                owner, newly = match, True
                taken.add(match.id)
        out.append(
            Observation(
                link_id=stored.id if stored else None,
                user_id=owner.id if owner else None,
                account_id=stored.account_id if stored else account.login,
                remote_id=account.remote_id,
                remote_status="active" if account.active else "suspended",
                remote_email=account.email,
                classification=_class(account, owner, domains),
                newly_linked=newly,
                last_access_time=_utc(account.last_access),
            )
        )
    missing = [a.id for a in state.accounts if a.id not in seen and a.remote_status != "deleted"]
    return out, missing


def _utc(moment: datetime | None) -> datetime | None:
    """A reported time in UTC; one without a zone is taken as UTC (as SCIM's are)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _class(
    account: RemoteAccount, owner: DirectoryUser | None, domains: frozenset[str]
) -> Classification:
    if owner is not None:
        return "retired" if not owner.active and account.active else "managed"
    domain = _domain(account.email) or _domain(account.login)
    if domain is not None and domains and domain not in domains:
        return "external"
    return "unknown"


def sync(
    store: ProvisioningStore,
    credentials: CredentialSource,
    organization_id: str,
    integration_id: int,
    *,
    timeout: float = 10.0,
    page_size: int = 100,
    kind: str = "discover",
) -> SyncResult:
    """One discovery run of one integration; see the module docstring.

    ``kind`` is recorded on the run: ``discover`` (on demand) or ``scheduled``.
    """
    binding = store.binding(organization_id, integration_id)
    if binding is None:
        raise UnsupportedOperation(f"integration {integration_id} does not exist")
    connector = load(binding.connector)
    if Capability.DISCOVER not in connector.capabilities:
        raise UnsupportedOperation(
            f"the {connector.name} connector cannot list accounts; discovery is skipped"
        )
    run = store.start_run(organization_id, integration_id, kind)
    remote: list[RemoteAccount] = []
    notes: list[str] = []
    try:
        ctx = ConnectorContext(
            organization_id,
            integration_id,
            binding.settings,
            credentials.auth_for(binding, connector),
            timeout=timeout,
            notes=notes,
        )
        for account in connector.iter_accounts(ctx, page_size=page_size):
            remote.append(account)
            if len(remote) > MAX_ACCOUNTS:
                raise ConnectorError(f"more than {MAX_ACCOUNTS} accounts; the run stopped")
    except Exception as caught:  # a connector bug or a hostile answer fails the run, not us
        if isinstance(caught, ConnectorError):
            exc = caught
        else:
            log.exception("integration %s: discovery failed unexpectedly", integration_id)
            exc = ConnectorError(f"unexpected {type(caught).__name__} in the connector")
        status = "needs_reauth" if isinstance(exc, AuthenticationFailed) else "sync_failed"
        failed = store.fail_run(organization_id, run, exc.message[:500], status=status)
        store.record_events(
            organization_id,
            [
                NewEvent(
                    "sync.failed",
                    "Integration",
                    str(integration_id),
                    {"run_id": run.id, "error_code": exc.code},
                    "engine",
                )
            ],
        )
        return SyncResult(failed)
    state = store.discovery_state(organization_id, integration_id)
    observations, missing = classify(remote, state)
    previous = {a.id: a.classification for a in state.accounts}
    events: list[NewEvent] = []
    for ob in observations:
        ref = f"{integration_id}:{ob.account_id}"
        data = {
            "integration_id": integration_id,
            "account_id": ob.account_id,
            "user_id": ob.user_id,
            "classification": ob.classification,
        }
        if ob.link_id is None:
            events.append(NewEvent("account.discovered", "ServiceAccount", ref, data, "engine"))
        if ob.newly_linked:
            events.append(
                NewEvent(
                    "account.linked",
                    "ServiceAccount",
                    ref,
                    {**data, "method": "auto_matched"},
                    "engine",
                )
            )
        before = previous.get(ob.link_id) if ob.link_id is not None else None
        if before != ob.classification:
            if before is not None:
                events.append(
                    NewEvent(
                        "account.classification_changed",
                        "ServiceAccount",
                        ref,
                        {**data, "from": before},
                        "engine",
                    )
                )
            if ob.classification == "unknown":
                events.append(
                    NewEvent("account.orphan_detected", "ServiceAccount", ref, data, "engine")
                )
            elif ob.classification == "retired":
                events.append(
                    NewEvent("account.retired_detected", "ServiceAccount", ref, data, "engine")
                )
    counts = Counter(ob.classification for ob in observations)
    totals = {
        "seen": len(observations),
        "new": sum(1 for ob in observations if ob.link_id is None),
        "linked": sum(1 for ob in observations if ob.newly_linked),
        "missing": len(missing),
        "managed": counts["managed"],
        "retired": counts["retired"],
        "external": counts["external"],
        "orphans": counts["unknown"],
    }
    events.append(
        NewEvent(
            "sync.completed",
            "Integration",
            str(integration_id),
            {"run_id": run.id, **totals, **({"notes": list(notes)} if notes else {})},
            "engine",
        )
    )
    done = store.apply_discovery(organization_id, run, observations, missing, totals, events)
    return SyncResult(done, tuple(observations), tuple(dict.fromkeys(notes)))


# -- scheduled discovery ------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_interval(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``30m``, ``6h``, ``1d``; ``off``/``never`` is 0."""
    if text.strip().lower() in ("off", "never", "none"):
        return 0
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r}: expected seconds or a duration like 30m, 6h, 1d, or off")
    return int(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]


def sync_interval(
    settings: Mapping[str, Any], default: timedelta = DEFAULT_SYNC_INTERVAL
) -> timedelta | None:
    """The integration's discovery interval; ``None`` when scheduled discovery is off."""
    value = settings.get(SYNC_INTERVAL_SETTING)
    if value is None or value == "":
        return default
    try:
        seconds = parse_interval(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        log.warning("ignoring %s=%r; using the default", SYNC_INTERVAL_SETTING, value)
        return default
    return timedelta(seconds=seconds) if seconds > 0 else None


def is_due(candidate: SyncCandidate, interval: timedelta, lease: timedelta, now: datetime) -> bool:
    """Never synced, or the interval has passed and no live run holds it."""
    started, finished = candidate.last_started, candidate.last_finished
    if started is None:
        return True
    if started + interval > now:
        return False
    running = finished is None or finished < started
    return not running or started + lease <= now


def _now() -> datetime:
    return datetime.now(UTC)


class DiscoveryScheduler:
    """Runs the discovery syncs that are due; ``scimserver worker`` calls :meth:`run_due`.

    Candidates are read at most every ``poll`` (a cheap query); each due integration is
    claimed (:meth:`SyncSchedule.claim`) before it is synced, so any number of workers
    may run schedulers against one database.
    """

    def __init__(
        self,
        store: ProvisioningStore,
        credentials: CredentialSource,
        schedule: SyncSchedule,
        *,
        timeout: float = 10.0,
        page_size: int = 100,
        default_interval: timedelta = DEFAULT_SYNC_INTERVAL,
        lease: timedelta = DEFAULT_SYNC_LEASE,
        poll: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = _now,
        loader: Callable[[str], Connector] = load,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.schedule = schedule
        self.timeout = timeout
        self.page_size = page_size
        self.default_interval = default_interval
        self.lease = lease
        self.poll = poll
        self.clock = clock
        self.loader = loader
        self._next_poll: datetime | None = None

    def _can_discover(self, name: str) -> bool:
        try:
            return Capability.DISCOVER in self.loader(name).capabilities
        except ConnectorError:
            return False

    def run_due(self, limit: int = 1) -> list[SyncResult]:
        """Sync up to ``limit`` due integrations (claimed first); their results."""
        now = self.clock()
        if self._next_poll is not None and now < self._next_poll:
            return []
        results: list[SyncResult] = []
        for candidate in self.schedule.candidates():
            if len(results) >= limit:
                return results  # more may be due: poll again at once
            interval = sync_interval(candidate.settings, self.default_interval)
            if interval is None or not is_due(candidate, interval, self.lease, now):
                continue
            if not self._can_discover(candidate.connector):
                continue
            if not self.schedule.claim(candidate, now=now, interval=interval, lease=self.lease):
                continue  # another worker has it
            try:
                results.append(
                    sync(
                        self.store,
                        self.credentials,
                        candidate.organization_id,
                        candidate.integration_id,
                        timeout=self.timeout,
                        page_size=self.page_size,
                        kind="scheduled",
                    )
                )
            except ConnectorError as exc:  # the integration went away, or cannot list
                log.warning(
                    "integration %s: scheduled discovery skipped: %s",
                    candidate.integration_id,
                    exc.message,
                )
        self._next_poll = now + self.poll
        return results
