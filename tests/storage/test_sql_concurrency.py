"""Races the database itself must settle (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scimcore.errors import NotFound, ServiceUnavailable, Uniqueness
from scimcore.storage.base import Member
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlStore, make_engine
from scimcore.testing import make_group, make_user, new_org

THREADS = 8


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads started together; results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_same_username_exactly_one_wins(sql_store: SqlStore) -> None:
    org = new_org(sql_store)

    def create(i: int) -> str:
        with sql_store.session(org.id) as s:
            s.insert("User", make_user(f"u{i}", "Racer" if i % 2 else "racer"))
        return "ok"

    results = race(THREADS, create)
    assert results.count("ok") == 1, results
    assert sum(isinstance(r, Uniqueness) for r in results) == THREADS - 1, results


def test_concurrent_add_members_lose_none(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(THREADS * 3):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        s.insert("Group", make_group("g", "Group"))

    def add(i: int) -> str:
        for j in range(3):
            with sql_store.session(org.id) as s:
                s.add_members("g", [Member(f"u{i * 3 + j}")])
        return "ok"

    assert race(THREADS, add) == ["ok"] * THREADS
    with sql_store.session(org.id) as s:
        assert len(s.get("Group", "g")["members"]) == THREADS * 3


def test_concurrent_rotations_leave_one_active(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    hashes = [uuid.uuid4().hex for _ in range(THREADS)]
    results = race(THREADS, lambda i: sql_store.set_token(org.id, hashes[i], f"p{i}"))
    assert not [r for r in results if isinstance(r, Exception)], results
    active = [h for h in hashes if sql_store.find_active_token(h) is not None]
    assert len(active) == 1
    info = sql_store.token_info(org.id)
    assert info is not None and info.status == "active"


def test_for_update_serialises_read_modify_write(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u", "counter", title="0"))

    def increment(_i: int) -> None:
        with sql_store.session(org.id) as s:
            user = s.get("User", "u", for_update=True)
            user["title"] = str(int(user["title"]) + 1)
            s.update("User", user)

    assert race(THREADS, increment) == [None] * THREADS
    with sql_store.session(org.id) as s:
        assert s.get("User", "u")["title"] == str(THREADS)


def test_unreachable_database_is_service_unavailable() -> None:
    store = SqlStore(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    try:
        store.get_organization("x")
    except ServiceUnavailable:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected ServiceUnavailable")
    try:
        with store.session("org") as s:
            s.get("User", "u")
    except ServiceUnavailable:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected ServiceUnavailable")


def test_readonly_session_reads_committed_data_while_a_writer_holds_its_transaction(
    sql_store: SqlStore,
) -> None:
    """A GET is never queued behind a write: it reads the last committed state."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("before", "reader-visible"))
    writing = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with sql_store.session(org.id) as s:
            s.insert("User", make_user("during", "not-yet-committed"))
            writing.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(timeout=10)
        started = time.monotonic()
        with sql_store.session(org.id, readonly=True) as s:
            assert s.get("User", "before")["userName"] == "reader-visible"
            with pytest.raises(NotFound):
                s.get("User", "during")
        # Far below SQLite's 30 s busy timeout: the reader did not wait for the lock.
        assert time.monotonic() - started < 5
    finally:
        release.set()
        thread.join(timeout=30)
    with sql_store.session(org.id, readonly=True) as s:
        assert s.get("User", "during")["userName"] == "not-yet-committed"


def test_concurrent_writers_in_one_process_all_commit(sql_store: SqlStore) -> None:
    """Writers of one process queue (on SQLite behind one lock): none fails or is lost.
    (That the queue replaced SQLite's busy-sleep is a latency gain, measured in
    benchmarks/, not here.)"""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("Group", make_group("g", "Team"))
        for i in range(THREADS):
            s.insert("User", make_user(f"m{i}", f"member{i}"))

    def add(i: int) -> str:
        for _ in range(5):
            with sql_store.session(org.id) as s:
                s.add_members("g", [Member(f"m{i}", "User")])
        return "ok"

    assert race(THREADS, add) == ["ok"] * THREADS
    with sql_store.session(org.id, readonly=True) as s:
        members = s.get("Group", "g")["members"]
    assert sorted(m["value"] for m in members) == sorted(f"m{i}" for i in range(THREADS))


def test_a_database_locked_by_another_process_is_reported_as_unavailable(
    tmp_path: Path,
) -> None:
    """A writer that cannot get SQLite's lock in time gets ServiceUnavailable (503)."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = SqlStore(make_engine(url, connect_args={"timeout": 0.2}))
    org = new_org(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA busy_timeout = 0")
    other.execute("BEGIN IMMEDIATE")
    try:
        store.engine.dispose()
        with store.engine.connect() as conn:  # a short busy timeout for this test
            conn.exec_driver_sql("PRAGMA busy_timeout = 200")
        with pytest.raises(ServiceUnavailable), store.session(org.id) as s:
            s.insert("User", make_user("u1", "user1"))
    finally:
        other.execute("ROLLBACK")
        other.close()
