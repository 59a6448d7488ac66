"""Rate limits that hold across processes: failed authentications per client address,
requests per organization.

The service runs as many stateless processes (gunicorn workers, instances behind a
load balancer) on one database. A limit kept in one process's memory would let a
client through ``processes`` times over, so every count goes to a shared
:class:`RateLimitStore` (the service's own database:
:class:`scimcore.storage.sql.ratelimit.SqlRateLimitStore`, or :class:`MemoryRateLimitStore`
for one process). What is shared is written only where it costs an honest client
nothing:

* :class:`FailureLimiter` (failed authentications): each failure adds one to the
  counter of (client address, window) in one statement that returns the new count.
  Honest clients rarely fail, so the failing pay that write. Once the count passes
  the limit, the process remembers "blocked until the window ends" and refuses the
  address from memory, without the database; every other process learns it on its
  own next failure from that address (one more write each).
* :class:`RequestLimiter` (requests per organization): counted in process memory; a
  thread of the process adds each full batch to the shared counter, off the request
  path, and learns the shared total in the same statement. Over the limit, the
  process refuses the organization from memory until the window ends. A request
  pays a dictionary update, never a database round trip. The total may overshoot by
  what the processes have counted but not yet added: at most ``processes x batch``
  (plus what arrives while one batch is being added).

Windows are fixed, aligned on the Unix epoch (``[k x window, (k+1) x window)``), so
processes on different hosts agree on them without talking to each other; a client
may fit up to twice the limit across a window boundary. Counters of past windows are
deleted by :meth:`RateLimitStore.purge` at most once a minute per process, so the
table holds about one window's worth of rows.

A store that fails (the database is down) fails open: the request is judged as if
under the limit, and the failure is logged.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import TooManyRequests

log = logging.getLogger("scimcore.ratelimit")

#: Seconds between two deletions of expired counters by one process.
PURGE_INTERVAL = 60.0
#: Entries a limiter keeps in memory for blocked keys before it drops expired ones.
_MEMORY_BOUND = 10_000

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``window`` seconds; a ``count`` of 0 turns it off."""

    count: int
    window: int = 60

    def __post_init__(self) -> None:
        if self.count < 0 or self.window < 1:
            raise ValueError(f"invalid limit: {self.count} per {self.window} s")

    @property
    def enabled(self) -> bool:
        return self.count > 0

    def window_of(self, now: float) -> int:
        """The start (Unix seconds) of the window ``now`` falls in."""
        return int(now // self.window) * self.window

    def describe(self) -> str:
        return f"{self.count} in {self.window} seconds"


class RateLimitStore(Protocol):
    """Shared counters, one per (key, window). Every process of the service must see
    the same counters: the database they share, not their memory."""

    def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
        """Add ``amount`` to the counter of ``key`` for the window starting at
        ``window_start`` (creating it at ``amount``) and return its new value, in one
        atomic step: two processes adding at once both count. ``expires_at`` (Unix
        seconds) is when the counter may be deleted."""
        ...

    def purge(self, now: int) -> int:
        """Delete the counters that expired at or before ``now``; return how many."""
        ...


class MemoryRateLimitStore:
    """Counters in this process's memory: for one process (tests, an embedding
    application on the memory store). Several processes need a shared store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}

    def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
        with self._lock:
            count, _ = self._counts.get((key, window_start), (0, expires_at))
            self._counts[(key, window_start)] = (count + amount, expires_at)
            return count + amount

    def purge(self, now: int) -> int:
        with self._lock:
            expired = [k for k, (_, expires) in self._counts.items() if expires <= now]
            for k in expired:
                del self._counts[k]
            return len(expired)

    def __len__(self) -> int:
        return len(self._counts)


def client_key(address: str | None) -> str:
    """The key a client address is counted under: an IPv4 address as it is, an IPv6
    address as its /64 network (one subscriber usually holds a whole /64 and could
    otherwise take a new address for every attempt), an IPv4-mapped IPv6 address as
    the IPv4 address. ``unknown`` when the server was given none."""
    if not address:
        return "unknown"
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def _utc(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _seconds(delta: float) -> int:
    """Whole seconds to wait (at least 1): a client retrying at once would be early."""
    return max(1, math.ceil(delta))


class _Sweeper:
    """Deletes expired counters at most every :data:`PURGE_INTERVAL` seconds, from
    whichever limiter has just written (never from a request that wrote nothing)."""

    def __init__(self, store: RateLimitStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def after_write(self) -> None:
        now = self._clock()
        with self._lock:
            if now < self._next:
                return
            self._next = now + PURGE_INTERVAL
        try:
            self._store.purge(int(now))
        except Exception:
            log.warning("rate limits: deleting expired counters failed", exc_info=True)


class _Blocks:
    """Keys this process refuses until a time (wall clock), and since when it knows."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def wait(self, key: str) -> int | None:
        """Seconds until ``key`` is let through again, or None when it is not blocked."""
        if not self._until:  # nothing is blocked: the common case costs one test
            return None
        until = self._until.get(key)
        if until is None:
            return None
        now = self._clock()
        if now >= until:
            self._until.pop(key, None)
            return None
        return _seconds(until - now)

    def block(self, key: str, until: float) -> None:
        if len(self._until) >= _MEMORY_BOUND:
            now = self._clock()
            for k in [k for k, u in self._until.items() if u <= now]:
                self._until.pop(k, None)
            if len(self._until) >= _MEMORY_BOUND:  # still full: forget the oldest block
                self._until.pop(next(iter(self._until)), None)
        self._until[key] = until


class FailureLimiter:
    """Failed attempts per key (a client address: :func:`client_key`), shared by every
    process through the store. Only failures write; a blocked key is refused from
    memory."""

    def __init__(
        self,
        store: RateLimitStore,
        limit: Limit,
        *,
        scope: str = "failures",
        clock: Clock = time.time,
        sweeper: _Sweeper | None = None,
    ) -> None:
        self.limit = limit
        self._store = store
        self._scope = scope
        self._clock = clock
        self._blocks = _Blocks(clock)
        self._sweeper = sweeper or _Sweeper(store, clock)

    def retry_after(self, key: str) -> int | None:
        """Seconds ``key`` must still wait, from this process's memory; None when this
        process does not know it to be blocked."""
        return self._blocks.wait(key)

    def failed(self, key: str) -> int | None:
        """Count one failure of ``key``. Returns the seconds to wait when ``key`` is now
        over the limit (this failure included), else None. A key this process already
        knows to be blocked costs no write."""
        if not self.limit.enabled:
            return None
        known = self._blocks.wait(key)
        if known is not None:
            return known
        now = self._clock()
        start = self.limit.window_of(now)
        end = start + self.limit.window
        try:
            count = self._store.add(f"{self._scope}:{key}", start, 1, end)
        except Exception:
            log.warning("rate limits: counting a failure of %s failed", key, exc_info=True)
            return None
        self._sweeper.after_write()
        if count <= self.limit.count:
            return None
        if count == self.limit.count + 1:  # once per window, by whichever process sees it
            log.warning(
                "rate limit: %s of %s over %s; refused until %s",
                self._scope,
                key,
                self.limit.describe(),
                _utc(end),
            )
        self._blocks.block(key, end)
        return _seconds(end - now)


class RequestLimiter:
    """Requests per key (an organization id), counted in memory and added to the
    shared counter in batches by a thread of the process (``background``), so a
    request never waits for the database. Without ``background`` nothing is added
    until :meth:`flush` is called (tests drive it that way)."""

    def __init__(
        self,
        store: RateLimitStore,
        limit: Limit,
        *,
        batch: int = 100,
        scope: str = "requests",
        clock: Clock = time.time,
        sweeper: _Sweeper | None = None,
        background: bool = True,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.limit = limit
        #: At most a tenth of the limit, so the overshoot stays a fraction of it.
        self.batch = min(batch, max(1, limit.count // 10))
        self._store = store
        self._scope = scope
        self._clock = clock
        self._sweeper = sweeper or _Sweeper(store, clock)
        self._blocks = _Blocks(clock)
        self._lock = threading.Lock()
        self._pending: dict[str, list[int]] = {}  # key -> [window start, count]
        self._full: list[tuple[str, int, int]] = []  # batches waiting to be added
        self._background = background
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_pid = 0

    def hit(self, key: str) -> int | None:
        """Count one request of ``key``. Returns the seconds to wait when ``key`` is
        over its limit (the request is then not counted), else None."""
        if not self.limit.enabled:
            return None
        wait = self._blocks.wait(key)
        if wait is not None:
            return wait
        self.charge(key, 1)
        return None

    def charge(self, key: str, amount: int) -> None:
        """Count ``amount`` requests of ``key`` that were served (the operations of a
        Bulk request beyond the request itself): they count towards the limit, and
        the next request is refused if they took ``key`` over it."""
        if not self.limit.enabled or amount < 1:
            return
        start = self.limit.window_of(self._clock())
        with self._lock:
            entry = self._pending.get(key)
            if entry is None or entry[0] != start:  # a new window: earlier counts are moot
                entry = self._pending[key] = [start, 0]
            entry[1] += amount
            if entry[1] < self.batch:
                return
            self._full.append((key, start, entry[1]))
            entry[1] = 0
        self._signal()

    def flush(self) -> None:
        """Add every full batch to the shared counters and block the keys whose shared
        total is over the limit. The background thread's work; callable directly."""
        with self._lock:
            full, self._full = self._full, []
            now = self._clock()
            current = self.limit.window_of(now)
            for k in [k for k, (start, _) in self._pending.items() if start < current]:
                del self._pending[k]
        merged: dict[tuple[str, int], int] = {}
        for key, start, count in full:
            merged[(key, start)] = merged.get((key, start), 0) + count
        wrote = False
        for (key, start), count in merged.items():
            end = start + self.limit.window
            try:
                total = self._store.add(f"{self._scope}:{key}", start, count, end)
            except Exception:
                log.warning("rate limits: adding the requests of %s failed", key, exc_info=True)
                continue
            wrote = True
            if total > self.limit.count and end > now:
                if self._blocks.wait(key) is None:
                    log.warning(
                        "rate limit: %s of %s over %s (%d); refused until %s",
                        self._scope,
                        key,
                        self.limit.describe(),
                        total,
                        _utc(end),
                    )
                self._blocks.block(key, end)
        if wrote:
            self._sweeper.after_write()

    def _signal(self) -> None:
        if not self._background:
            return
        thread = self._thread
        if thread is None or self._thread_pid != os.getpid() or not thread.is_alive():
            with self._lock:  # one thread per process, started after a fork too
                if self._thread is thread:
                    self._thread = threading.Thread(
                        target=self._run, name="scimcore-rate-limits", daemon=True
                    )
                    self._thread_pid = os.getpid()
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush logs its own store errors
                log.exception("rate limits: adding request counts failed")


@dataclass(frozen=True)
class RateLimitSettings:
    """The limits of :class:`RateLimits`; see docs/security.md for the defaults' reasons."""

    failures: Limit = Limit(50, 60)
    organization_requests: Limit = Limit(12_000, 60)
    organization_batch: int = 100


class RateLimits:
    """The service's limits on one shared store: failed authentications per client
    address (:attr:`failures`) and requests per organization (:attr:`organizations`)."""

    def __init__(
        self,
        store: RateLimitStore,
        settings: RateLimitSettings | None = None,
        *,
        clock: Clock = time.time,
        background: bool = True,
    ) -> None:
        settings = settings or RateLimitSettings()
        self.settings = settings
        self.store = store
        sweeper = _Sweeper(store, clock)
        self.failures = FailureLimiter(
            store, settings.failures, scope="auth-failures", clock=clock, sweeper=sweeper
        )
        self.organizations = RequestLimiter(
            store,
            settings.organization_requests,
            batch=settings.organization_batch,
            scope="org-requests",
            clock=clock,
            sweeper=sweeper,
            background=background,
        )

    def too_many_failures(self, address: str, wait: int) -> TooManyRequests:
        """The SCIM error for a client address over the failure limit."""
        return TooManyRequests(
            f"Too many failed authentications from {address} (more than "
            f"{self.failures.limit.describe()}). Check the bearer token your client "
            f"sends, then retry after {wait} seconds.",
            retry_after=wait,
        )

    def too_many_requests(self, organization: str, wait: int) -> TooManyRequests:
        """The SCIM error for an organization over its request limit."""
        return TooManyRequests(
            f"Organization '{organization}' is over its rate limit of "
            f"{self.organizations.limit.describe()}. Retry after {wait} seconds; "
            "clients that honour Retry-After resume on their own.",
            retry_after=wait,
        )


__all__ = [
    "FailureLimiter",
    "Limit",
    "MemoryRateLimitStore",
    "RateLimitSettings",
    "RateLimitStore",
    "RateLimits",
    "RequestLimiter",
    "client_key",
]
