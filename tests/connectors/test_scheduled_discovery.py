"""Scheduled discovery: the worker syncs integrations whose interval has passed, one
worker per integration at a time, and records each run (kind ``scheduled``)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore.accounts import KeyRing
from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.provisioning.discovery import (
    SYNC_INTERVAL_SETTING,
    DiscoveryScheduler,
    parse_interval,
    sync_interval,
)
from scimcore.provisioning.store import SyncCandidate
from scimcore.storage.sql.schedule import SqlSyncSchedule
from scimcore.storage.sql.tables import sync_runs

from .conftest import Env, scim_auth
from .fakes import FakeScim


class _OneOrganization(SqlSyncSchedule):
    """The schedule of the test's organization only: on PostgreSQL the database holds
    the integrations of every test that ran before, which would be due too."""

    def __init__(self, env: Env) -> None:
        super().__init__(env.store.engine)
        self.organization_id = env.org.id

    def candidates(self) -> list[SyncCandidate]:
        return [c for c in super().candidates() if c.organization_id == self.organization_id]


def _scheduler(env: Env, **kwargs: Any) -> DiscoveryScheduler:
    kwargs.setdefault("poll", timedelta(0))
    kwargs.setdefault("timeout", 2.0)
    return DiscoveryScheduler(
        env.prov, StaticCredentials(env.auth), _OneOrganization(env), **kwargs
    )


def _runs(env: Env, integration: int) -> list[Any]:
    with env.store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(sync_runs)
                .where(sync_runs.c.integration_id == integration)
                .order_by(sync_runs.c.id)
            )
        )


def _listings(fake: FakeScim) -> int:
    return sum(1 for m, p in fake.requests if m == "GET" and "startIndex=1&" in p)


def test_intervals_parse_and_default_to_six_hours() -> None:
    assert [parse_interval(t) for t in ("90", "90s", "30m", "6h", "1d", "off")] == [
        90,
        90,
        1800,
        21600,
        86400,
        0,
    ]
    with pytest.raises(ValueError):
        parse_interval("soon")
    assert sync_interval({}) == timedelta(hours=6)
    assert sync_interval({SYNC_INTERVAL_SETTING: 0}) is None
    assert sync_interval({SYNC_INTERVAL_SETTING: "15m"}) == timedelta(minutes=15)


def test_the_worker_syncs_again_once_the_short_interval_has_passed(
    env: Env, fake_scim: FakeScim
) -> None:
    fake_scim.add("ghost@example.com")
    integration = env.integration(
        "scim2",
        {"base_url": fake_scim.url, SYNC_INTERVAL_SETTING: 1},
        auth=scim_auth(fake_scim),
        provisioning=False,
    )
    worker = env.worker(discovery=_scheduler(env))
    first = worker.run_once()
    assert (first.synced, first.sync_failed) == (1, 0)
    assert worker.run_once().synced == 0  # not due yet
    assert _listings(fake_scim) == 1
    time.sleep(1.1)
    assert worker.run(until_idle=True).synced == 1
    runs = _runs(env, integration)
    assert [(r.kind, r.status) for r in runs] == [("scheduled", "succeeded")] * 2
    assert runs[0].counts["orphans"] == 1
    types = [e.type for e in env.prov.events(env.org.id) if e.source == "engine"]
    assert types.count("sync.completed") == 2 and "account.orphan_detected" in types


def test_only_due_discovering_unparked_integrations_are_synced(
    env: Env, fake_scim: FakeScim
) -> None:
    off = env.integration(
        "scim2",
        {"base_url": fake_scim.url, SYNC_INTERVAL_SETTING: 0},
        auth=scim_auth(fake_scim),
        provisioning=False,
    )
    parked = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    env.prov.set_integration_status(env.org.id, parked, "needs_reauth", "refused")
    manual = env.integration("manual", {}, provisioning=False)
    due = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    stats = env.worker(discovery=_scheduler(env)).run(until_idle=True)
    assert stats.synced == 1
    assert [len(_runs(env, i)) for i in (off, parked, manual, due)] == [0, 0, 0, 1]
    # The default interval (6 h) has not passed: nothing more.
    assert env.worker(discovery=_scheduler(env)).run(until_idle=True).synced == 0


def test_a_failed_scheduled_run_is_recorded_and_does_not_stop_the_worker(
    env: Env, fake_scim: FakeScim
) -> None:
    from scimcore.adapters.connectors import register
    from scimcore.adapters.connectors.scim2 import Scim2Connector

    class Broken(Scim2Connector):
        name = "broken-discovery-test"

        def iter_accounts(self, ctx: Any, *, page_size: int = 100) -> Any:
            raise RuntimeError("a connector bug")

    register(Broken)
    hostile = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    broken = env.integration("scim2", {"base_url": fake_scim.url}, provisioning=False)
    env.prov.bind(env.org.id, broken, "broken-discovery-test", {"base_url": fake_scim.url})
    fake_scim.fault = lambda m, p: (200, {}, b"[" * 100_000)  # hostile: deep nesting
    stats = env.worker(discovery=_scheduler(env)).run(until_idle=True)
    assert (stats.synced, stats.sync_failed) == (2, 2)
    for integration, error in ((hostile, "not valid JSON"), (broken, "unexpected RuntimeError")):
        (run,) = _runs(env, integration)
        assert run.kind == "scheduled" and run.status == "failed" and error in run.error


def test_a_claimed_run_is_not_taken_again_until_its_lease_runs_out(
    env: Env, fake_scim: FakeScim
) -> None:
    env.integration(
        "scim2",
        {"base_url": fake_scim.url, SYNC_INTERVAL_SETTING: 60},
        auth=scim_auth(fake_scim),
        provisioning=False,
    )
    schedule = SqlSyncSchedule(env.store.engine)
    (candidate,) = schedule.candidates()
    now = datetime.now(UTC)
    kwargs = {"interval": timedelta(seconds=60), "lease": timedelta(seconds=600)}
    assert schedule.claim(candidate, now=now, **kwargs)
    # A second worker with the same view of the row loses.
    assert not schedule.claim(candidate, now=now, **kwargs)
    # The first worker died: no finish stamp. Past the interval but inside the lease...
    later = now + timedelta(seconds=120)
    assert not schedule.claim(candidate, now=later, **kwargs)
    # ...and past the lease, another worker takes it over.
    assert schedule.claim(candidate, now=now + timedelta(seconds=601), **kwargs)


def test_concurrent_workers_sync_an_integration_once(any_env: Env, fake_scim: FakeScim) -> None:
    env = any_env
    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    fake_scim.add("someone@example.com")
    fake_scim.delay = 0.05
    barrier = threading.Barrier(4)
    totals: list[int] = []

    def work() -> None:
        scheduler = _scheduler(env)
        barrier.wait(10)
        totals.append(len(scheduler.run_due(limit=5)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(totals) == 1
    assert len(_runs(env, integration)) == 1


def test_cli_connect_sets_the_interval_and_the_worker_runs_the_schedule(
    env: Env, fake_scim: FakeScim, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    monkeypatch.setenv(
        "SCIMSERVER_DATABASE_URL", env.store.engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SCIMSERVER_SECRET_KEYS", KeyRing.generate_key())
    integration = env.integration("scim2", {}, provisioning=False)
    runner = CliRunner()
    org, name = env.org.slug, str(integration)

    def cli(*args: str, input: str | None = None) -> str:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("integrations", "credential", "set", org, name, "--kind", "bearer", input=fake_scim.token)
    bad = runner.invoke(
        main,
        ["services", "connect", org, name, "--connector", "scim2", "--sync-interval", "soon"],
    )
    assert bad.exit_code != 0 and "--sync-interval" in bad.output
    connected = json.loads(
        cli(
            "services",
            "connect",
            org,
            name,
            "--connector",
            "scim2",
            "--setting",
            f"base_url={fake_scim.url}",
            "--sync-interval",
            "2h",
            "--json",
        )
    )
    assert connected["settings"][SYNC_INTERVAL_SETTING] == 7200
    # Connecting again without the option keeps the interval.
    again = json.loads(
        cli(
            "services",
            "connect",
            org,
            name,
            "--connector",
            "scim2",
            "--setting",
            f"base_url={fake_scim.url}",
            "--json",
        )
    )
    assert again["settings"][SYNC_INTERVAL_SETTING] == 7200
    stats = json.loads(cli("worker", "--once", "--timeout", "2").strip().splitlines()[-1])
    assert stats["synced"] == 1 and stats["sync_failed"] == 0, stats
    assert json.loads(cli("worker", "--once").strip().splitlines()[-1])["synced"] == 0
    assert json.loads(cli("worker", "--once", "--no-discovery").splitlines()[-1])["synced"] == 0
    assert [r.kind for r in _runs(env, integration)] == ["scheduled"]
