"""An integration's rate limit holds over every worker sharing the database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.provisioning.worker import Worker
from scimcore.storage.sql import make_engine
from scimcore.storage.sql.provisioning import SqlProvisioningStore

from .conftest import Env
from .fakes import CountingConnector

GAP_MS = 40
#: Rounding of the microsecond slots and of float seconds.
SLACK = 0.002


def _own_worker(connector: CountingConnector, url: str) -> Worker:
    """A worker with its own engine (own pool, own locks), as a second process has."""
    store = SqlProvisioningStore(make_engine(url, pool_size=1))
    return Worker(
        store, StaticCredentials(), batch_size=2, timeout=2.0, loader=lambda _name: connector
    )


def test_two_workers_together_send_no_faster_than_the_integration_allows(
    any_env: Env,
) -> None:
    connector = CountingConnector(requests_per_call=2)
    integration = any_env.integration("counting", {}, max_concurrency=8, min_interval_ms=GAP_MS)
    for n in range(8):
        any_env.create_user(f"paced{n}-{any_env.org.slug}@example.com")
    url = any_env.store.engine.url.render_as_string(hide_password=False)
    workers = [_own_worker(connector, url) for _ in range(2)]
    start = time.time()
    threads = [
        threading.Thread(target=w.run, kwargs={"until_idle": True, "max_seconds": 30})
        for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    mine = [j.status for j in any_env.jobs() if j.integration_id == integration]
    assert mine == ["succeeded"] * 8
    sent = connector.times(integration)
    assert len(sent) == 16
    # Slots are GAP_MS apart from the first reservation on, whoever holds them: by any
    # moment T no more than (T - start) / gap + 1 requests can have been sent.
    gap = GAP_MS / 1000
    for k, at in enumerate(sent):
        assert at - start >= k * gap - SLACK, (k, at - start)


def test_reserved_slots_of_two_stores_are_one_gap_apart(any_env: Env) -> None:
    integration = any_env.integration("counting", {}, min_interval_ms=10_000)
    url = any_env.store.engine.url.render_as_string(hide_password=False)
    stores = [any_env.prov, SqlProvisioningStore(make_engine(url, pool_size=1))]
    gap = timedelta(seconds=10)
    start = time.time()
    for k in range(4):
        wait = stores[k % 2].reserve_call(any_env.org.id, integration, gap)
        # Slot k is k gaps after the first one, which was no earlier than ``start``.
        assert wait >= k * 10 - (time.time() - start) - SLACK


def test_an_integration_without_a_limit_never_waits(env: Env) -> None:
    integration = env.integration("counting", {})
    assert env.prov.reserve_call(env.org.id, integration, timedelta(0)) == 0.0
