"""The rate limiter's rules (scimcore.ratelimit), on a clock the tests move by hand.

Several limiters on one store stand for several processes (gunicorn workers,
instances) sharing one database: what one counts, the others see.
"""

from __future__ import annotations

import threading

import pytest

from scimcore.errors import ERROR_SCHEMA, TooManyRequests
from scimcore.ratelimit import (
    PURGE_INTERVAL,
    FailureLimiter,
    Limit,
    MemoryRateLimitStore,
    RateLimits,
    RateLimitSettings,
    RequestLimiter,
    client_key,
)

START = 1_700_000_040.0  # a window of 60 s starts here (a multiple of 60)


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryRateLimitStore):
    """A memory store that counts the writes it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = 0
        self.purges = 0

    def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
        self.adds += 1
        return super().add(key, window_start, amount, expires_at)

    def purge(self, now: int) -> int:
        self.purges += 1
        return super().purge(now)

    def value(self, key: str, window_start: float = START) -> int:
        """The counter's value, read without counting as a write."""
        return super().add(key, int(window_start), 0, int(window_start) + 60)


class BrokenStore(MemoryRateLimitStore):
    def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
        raise ConnectionError("the database is down")


# -- failures per key ---------------------------------------------------------------------


def failures(store: MemoryRateLimitStore, clock: Clock, count: int = 3) -> FailureLimiter:
    return FailureLimiter(store, Limit(count, 60), clock=clock)


def test_failures_up_to_the_limit_pass_and_the_next_is_refused_until_the_window_ends() -> None:
    clock = Clock(START + 20)
    limiter = failures(CountingStore(), clock)
    assert [limiter.failed("203.0.113.7") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("203.0.113.7") is None
    assert limiter.failed("203.0.113.7") == 40  # the window ends at START + 60
    assert limiter.retry_after("203.0.113.7") == 40
    clock.now = START + 59.5
    assert limiter.retry_after("203.0.113.7") == 1  # never 0: retrying at once is early


def test_a_blocked_key_is_refused_from_memory_without_writing() -> None:
    store, clock = CountingStore(), Clock()
    limiter = failures(store, clock)
    for _ in range(4):
        limiter.failed("203.0.113.7")
    writes = store.adds
    assert limiter.failed("203.0.113.7") is not None
    assert limiter.failed("203.0.113.7") is not None
    assert store.adds == writes


def test_another_process_learns_the_block_on_its_own_next_failure() -> None:
    store, clock = CountingStore(), Clock()
    worker_a, worker_b = failures(store, clock), failures(store, clock)
    assert [worker_a.failed("198.51.100.1") for _ in range(3)] == [None] * 3
    assert worker_a.failed("198.51.100.1") is not None
    assert worker_b.retry_after("198.51.100.1") is None  # it has not failed there yet
    writes = store.adds
    assert worker_b.failed("198.51.100.1") is not None  # one write, and it knows
    assert store.adds == writes + 1
    assert worker_b.retry_after("198.51.100.1") is not None


def test_the_next_window_starts_afresh() -> None:
    clock = Clock()
    limiter = failures(MemoryRateLimitStore(), clock)
    for _ in range(4):
        limiter.failed("203.0.113.7")
    clock.now = START + 60
    assert limiter.retry_after("203.0.113.7") is None
    assert [limiter.failed("203.0.113.7") for _ in range(3)] == [None, None, None]
    assert limiter.failed("203.0.113.7") == 60


def test_keys_are_counted_apart() -> None:
    clock = Clock()
    limiter = failures(MemoryRateLimitStore(), clock)
    for _ in range(4):
        limiter.failed("203.0.113.7")
    assert limiter.retry_after("203.0.113.8") is None
    assert limiter.failed("203.0.113.8") is None


def test_a_limit_of_zero_turns_it_off_and_writes_nothing() -> None:
    store = CountingStore()
    limiter = FailureLimiter(store, Limit(0, 60), clock=Clock())
    assert all(limiter.failed("203.0.113.7") is None for _ in range(100))
    assert store.adds == 0


def test_a_store_that_fails_lets_requests_through() -> None:
    limiter = FailureLimiter(BrokenStore(), Limit(1, 60), clock=Clock())
    assert [limiter.failed("203.0.113.7") for _ in range(5)] == [None] * 5


def test_expired_counters_are_deleted_at_most_once_a_purge_interval() -> None:
    store, clock = CountingStore(), Clock()
    limiter = failures(store, clock, count=1000)
    for key in ("a", "b", "c"):
        limiter.failed(key)
    assert (store.purges, len(store)) == (1, 3)
    clock.now = START + PURGE_INTERVAL + 1  # those windows have ended
    limiter.failed("d")
    assert (store.purges, len(store)) == (2, 1)  # only the live counter is left
    limiter.failed("e")
    assert store.purges == 2


# -- requests per key, in batches ---------------------------------------------------------


def requests(
    store: MemoryRateLimitStore, clock: Clock, count: int = 100, batch: int = 10
) -> RequestLimiter:
    return RequestLimiter(store, Limit(count, 60), batch=batch, clock=clock, background=False)


def test_requests_are_counted_in_memory_until_a_batch_is_full() -> None:
    store, clock = CountingStore(), Clock()
    limiter = requests(store, clock)
    for _ in range(25):
        assert limiter.hit("org-1") is None
    assert store.adds == 0
    limiter.flush()
    assert store.adds == 1  # two full batches, added in one statement
    assert store.value("requests:org-1") == 20  # the last 5 are still in memory


def test_the_shared_total_over_the_limit_refuses_the_key_until_the_window_ends() -> None:
    store, clock = MemoryRateLimitStore(), Clock(START + 15)
    limiter = requests(store, clock, count=100, batch=10)
    admitted = 0
    for _ in range(150):
        if limiter.hit("org-1") is None:
            admitted += 1
        limiter.flush()
    assert admitted == 110  # the batch that crossed the limit had been let through
    assert limiter.hit("org-1") == 45
    assert limiter.hit("org-2") is None  # another organization is not affected
    clock.now = START + 60
    assert limiter.hit("org-1") is None


def test_processes_add_up_and_overshoot_by_at_most_processes_times_batch() -> None:
    store, clock = MemoryRateLimitStore(), Clock()
    workers = [requests(store, clock, count=100, batch=10) for _ in range(4)]
    admitted = 0
    for i in range(400):  # round robin, as a load balancer would
        worker = workers[i % 4]
        if worker.hit("org-1") is None:
            admitted += 1
        worker.flush()
    assert 100 < admitted <= 100 + 4 * 10
    assert all(w.hit("org-1") is not None for w in workers)


def test_counts_of_an_ended_window_are_dropped() -> None:
    store, clock = CountingStore(), Clock()
    limiter = requests(store, clock, count=100, batch=10)
    for _ in range(9):
        limiter.hit("org-1")
    clock.now = START + 60
    limiter.hit("org-1")  # the new window's first: not the old window's tenth
    limiter.flush()
    assert store.adds == 0


def test_a_batch_is_at_most_a_tenth_of_the_limit() -> None:
    assert requests(MemoryRateLimitStore(), Clock(), count=30, batch=50).batch == 3
    assert requests(MemoryRateLimitStore(), Clock(), count=5, batch=50).batch == 1
    assert requests(MemoryRateLimitStore(), Clock(), count=12_000, batch=50).batch == 50


def test_a_request_limit_of_zero_turns_it_off() -> None:
    store = CountingStore()
    limiter = requests(store, Clock(), count=0)
    assert all(limiter.hit("org-1") is None for _ in range(1000))
    limiter.flush()
    assert store.adds == 0


def test_the_background_thread_adds_full_batches_off_the_request_path() -> None:
    added = threading.Event()

    class SignallingStore(MemoryRateLimitStore):
        def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
            total = super().add(key, window_start, amount, expires_at)
            added.set()
            return total

    store = SignallingStore()
    limiter = RequestLimiter(store, Limit(100, 60), batch=5, clock=Clock())
    for _ in range(5):
        assert limiter.hit("org-1") is None
    assert added.wait(10), "the full batch was never added"
    assert MemoryRateLimitStore.add(store, "requests:org-1", int(START), 0, int(START) + 60) == 5


# -- the service's limits and errors ------------------------------------------------------


def test_refusals_are_scim_errors_with_retry_after_and_a_detail_naming_the_limit() -> None:
    limits = RateLimits(
        MemoryRateLimitStore(),
        RateLimitSettings(failures=Limit(50, 60), organization_requests=Limit(12_000, 60)),
        background=False,
    )
    error = limits.too_many_failures("203.0.113.7", 42)
    assert isinstance(error, TooManyRequests)
    assert error.headers() == {"Retry-After": "42"}
    body = error.to_dict()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == "429"
    assert "203.0.113.7" in body["detail"] and "50 in 60 seconds" in body["detail"]
    assert "retry after 42 seconds" in body["detail"]
    detail = limits.too_many_requests("acme", 7).detail
    assert "'acme'" in detail and "12000 in 60 seconds" in detail and "Retry after 7" in detail


def test_too_many_requests_never_asks_for_a_wait_of_zero() -> None:
    assert TooManyRequests("slow down", retry_after=0).headers() == {"Retry-After": "1"}


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_client_keys_group_an_ipv6_subscriber_by_its_64(address: str | None, key: str) -> None:
    assert client_key(address) == key


def test_an_invalid_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        Limit(-1, 60)
    with pytest.raises(ValueError):
        Limit(10, 0)
