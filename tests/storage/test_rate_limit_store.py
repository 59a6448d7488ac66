"""The rate limits' shared counters (RateLimitStore) in memory, SQLite and PostgreSQL.

The SQL store is what makes a limit hold across processes: two engines on one database
stand for two gunicorn workers (or two instances), each with its own connection pool.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from scimcore.ratelimit import Limit as RateLimit
from scimcore.ratelimit import MemoryRateLimitStore, RateLimits, RateLimitSettings, RateLimitStore
from scimcore.storage.sql import make_engine
from scimcore.storage.sql.ratelimit import SqlRateLimitStore

from .conftest import SQL_BACKENDS, _engine

W = 1_700_000_040  # a window start


@pytest.fixture(params=["memory", *SQL_BACKENDS])
def counters(request: pytest.FixtureRequest, sql_engines: dict[str, Engine]) -> RateLimitStore:
    if request.param == "memory":
        return MemoryRateLimitStore()
    store = SqlRateLimitStore(_engine(request.param, sql_engines, request))
    store.purge(2**62)  # counters of earlier tests on the shared database
    return store


def test_add_returns_the_running_total_per_key_and_window(counters: RateLimitStore) -> None:
    assert counters.add("auth-failures:203.0.113.7", W, 1, W + 60) == 1
    assert counters.add("auth-failures:203.0.113.7", W, 1, W + 60) == 2
    assert counters.add("auth-failures:203.0.113.7", W, 5, W + 60) == 7
    assert counters.add("auth-failures:203.0.113.8", W, 1, W + 60) == 1
    assert counters.add("auth-failures:203.0.113.7", W + 60, 1, W + 120) == 1


def test_purge_deletes_only_the_counters_whose_window_has_ended(counters: RateLimitStore) -> None:
    counters.add("old", W, 3, W + 60)
    counters.add("current", W + 60, 3, W + 120)
    assert counters.purge(W + 59) == 0
    assert counters.purge(W + 60) == 1
    assert counters.add("current", W + 60, 1, W + 120) == 4
    assert counters.add("old", W, 1, W + 60) == 1  # it was gone


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_processes_adding_at_once_all_count(
    backend: str, sql_engines: dict[str, Engine], request: pytest.FixtureRequest
) -> None:
    shared = _engine(backend, sql_engines, request)
    other = make_engine(shared.url)  # a second process's own pool on the same database
    try:
        stores = [SqlRateLimitStore(shared), SqlRateLimitStore(other)]
        stores[0].purge(2**62)
        with ThreadPoolExecutor(max_workers=8) as pool:
            totals = list(
                pool.map(lambda i: stores[i % 2].add("org-requests:x", W, 1, W + 60), range(200))
            )
        assert sorted(totals) == list(range(1, 201))  # every add saw a distinct total
        assert stores[1].count("org-requests:x", W) == 200
    finally:
        other.dispose()


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_a_block_holds_across_processes_sharing_the_database(
    backend: str, sql_engines: dict[str, Engine], request: pytest.FixtureRequest
) -> None:
    shared = _engine(backend, sql_engines, request)
    other = make_engine(shared.url)
    try:
        # A window of 10^9 s (until 2033): the test cannot straddle a window's end.
        settings = RateLimitSettings(failures=RateLimit(5, 10**9))
        worker_a = RateLimits(SqlRateLimitStore(shared), settings, background=False)
        worker_b = RateLimits(SqlRateLimitStore(other), settings, background=False)
        address = f"test-{uuid.uuid4()}"
        for i in range(5):
            worker = worker_a if i % 2 else worker_b
            assert worker.failures.failed(address) is None
        assert worker_a.failures.failed(address) is not None
        assert worker_b.failures.failed(address) is not None  # learnt from the shared count
    finally:
        other.dispose()
