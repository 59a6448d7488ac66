"""An integration whose jobs keep failing is quarantined and tried rarely until it recovers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore.adapters.connectors import PermanentError
from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.provisioning.quarantine import (
    FAILED,
    FIRST_TRIAL,
    LONGEST_TRIAL,
    should_quarantine,
    trial_interval,
)
from scimcore.provisioning.worker import Worker
from scimcore.storage.sql import make_engine
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.tables import integration_connectors

from .conftest import Env
from .fakes import CountingConnector


def _worker(env: Env, connector: CountingConnector) -> Worker:
    return Worker(env.prov, StaticCredentials(), timeout=2.0, loader=lambda _name: connector)


def _status(env: Env, integration: int) -> str:
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None
    return binding.integration.status


def _quarantined(env: Env) -> tuple[int, CountingConnector]:
    """An integration quarantined after FAILED jobs died in a row."""
    connector = CountingConnector()
    connector.failure = PermanentError("HTTP 400: the service rejects every account")
    integration = env.integration("counting", {})
    for n in range(FAILED):
        env.create_user(f"failing{n}-{env.org.slug}@example.com")
    _worker(env, connector).run(until_idle=True, max_seconds=30)
    assert _mine(env, integration) == ["dead"] * FAILED
    return integration, connector


def _mine(env: Env, integration: int) -> list[str]:
    """The statuses of the integration's jobs (the PostgreSQL database is shared)."""
    return [j.status for j in env.jobs() if j.integration_id == integration]


def _make_trial_due(env: Env, integration: int) -> None:
    with env.store.engine.begin() as conn:
        conn.execute(
            sa.update(integration_connectors)
            .where(integration_connectors.c.integration_id == integration)
            .values(quarantine_next_trial=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_integration_whose_recent_jobs_mostly_fail_is_quarantined(any_env: Env) -> None:
    before = datetime.now(UTC)
    integration, _ = _quarantined(any_env)
    assert _status(any_env, integration) == "quarantined"
    binding = any_env.prov.binding(any_env.org.id, integration)
    assert binding is not None and binding.quarantined_since is not None
    assert binding.quarantine_next_trial is not None
    assert binding.quarantine_next_trial >= before + FIRST_TRIAL
    events = any_env.prov.events(any_env.org.id)
    changes = [e.data for e in events if e.type == "integration.status_changed"]
    assert changes == [{"from": "active", "to": "quarantined", "reason": "most recent jobs failed"}]


def test_fewer_failures_than_the_threshold_do_not_quarantine(env: Env) -> None:
    connector = CountingConnector()
    connector.failure = PermanentError("HTTP 400")
    integration = env.integration("counting", {})
    for n in range(FAILED - 1):
        env.create_user(f"few{n}@example.com")
    _worker(env, connector).run(until_idle=True, max_seconds=30)
    assert _status(env, integration) == "active"


def test_quarantined_integration_waits_then_lets_one_trial_through_at_growing_intervals(
    any_env: Env,
) -> None:
    integration, connector = _quarantined(any_env)
    for n in range(3):
        any_env.create_user(f"waiting{n}-{any_env.org.slug}@example.com")
    sent = len(connector.times(integration))
    # Not due: nothing is sent, however often the worker looks.
    for _ in range(3):
        _worker(any_env, connector).run_once()
    assert len(connector.times(integration)) == sent
    waits = []
    for _ in range(3):
        _make_trial_due(any_env, integration)
        started = datetime.now(UTC)
        _worker(any_env, connector).run_once()
        sent += 1
        assert len(connector.times(integration)) == sent
        binding = any_env.prov.binding(any_env.org.id, integration)
        assert binding is not None and binding.quarantine_next_trial is not None
        waits.append(binding.quarantine_next_trial - started)
        _worker(any_env, connector).run_once()
        assert len(connector.times(integration)) == sent
    assert _status(any_env, integration) == "quarantined"
    # Each trial that fails pushes the next one further out: 1 h, 2 h, 4 h.
    for n, wait in enumerate(waits, start=1):
        assert trial_interval(n) <= wait < trial_interval(n + 1)


def test_a_trial_is_claimed_by_one_of_two_workers(any_env: Env) -> None:
    integration, _ = _quarantined(any_env)
    any_env.create_user(f"trial-{any_env.org.slug}@example.com")
    any_env.create_user(f"trial2-{any_env.org.slug}@example.com")
    _make_trial_due(any_env, integration)
    any_env.prov.plan()
    url = any_env.store.engine.url.render_as_string(hide_password=False)
    other = SqlProvisioningStore(make_engine(url, pool_size=1))
    first = any_env.prov.claim("a", 10, timedelta(minutes=5))
    second = other.claim("b", 10, timedelta(minutes=5))
    claimed = [j for j in (*first, *second) if j.integration_id == integration]
    assert len(claimed) == 1


def test_a_successful_trial_lifts_the_quarantine_and_the_backlog_runs(any_env: Env) -> None:
    integration, connector = _quarantined(any_env)
    for n in range(3):
        any_env.create_user(f"recovered{n}-{any_env.org.slug}@example.com")
    connector.failure = None
    _make_trial_due(any_env, integration)
    _worker(any_env, connector).run_once()
    assert _mine(any_env, integration).count("succeeded") == 1
    assert _status(any_env, integration) == "active"
    binding = any_env.prov.binding(any_env.org.id, integration)
    assert binding is not None and binding.quarantine_next_trial is None
    _worker(any_env, connector).run(until_idle=True, max_seconds=30)
    assert _mine(any_env, integration) == ["dead"] * FAILED + ["succeeded"] * 3
    changes = [
        e.data["to"]
        for e in any_env.prov.events(any_env.org.id)
        if e.type == "integration.status_changed"
    ]
    assert changes == ["quarantined", "active"]


def test_discovery_does_not_clear_a_quarantine(env: Env) -> None:
    integration, _ = _quarantined(env)
    run = env.prov.start_run(env.org.id, integration, "manual")
    env.prov.apply_discovery(env.org.id, run, [], [], {"seen": 0}, [])
    assert _status(env, integration) == "quarantined"


def test_admin_lists_and_lifts_a_quarantine_with_the_cli(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    monkeypatch.setenv(
        "SCIMSERVER_DATABASE_URL", env.store.engine.url.render_as_string(hide_password=False)
    )
    integration, connector = _quarantined(env)
    runner = CliRunner()
    org = env.org.slug
    listed = runner.invoke(main, ["integrations", "list", org, "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["status"] == "quarantined" and row["next_trial"] is not None
    text = runner.invoke(main, ["integrations", "list", org])
    assert "quarantined\tsince" in text.output
    lifted = runner.invoke(main, ["integrations", "lift-quarantine", org, str(integration)])
    assert lifted.exit_code == 0, lifted.output
    assert _status(env, integration) == "active"
    again = runner.invoke(main, ["integrations", "lift-quarantine", org, str(integration)])
    assert again.exit_code == 1 and "not quarantined" in again.output
    # Lifted: the jobs run at their own pace again.
    env.create_user(f"after-lift-{org}@example.com")
    connector.failure = None
    _worker(env, connector).run(until_idle=True, max_seconds=30)
    assert _mine(env, integration) == ["dead"] * FAILED + ["succeeded"]


@pytest.mark.parametrize(
    ("recent", "quarantine"),
    [
        (["dead"] * FAILED, True),
        (["dead"] * (FAILED - 1), False),
        (["succeeded"] + ["dead"] * FAILED, True),
        (["succeeded", "succeeded", "succeeded"] + ["dead"] * FAILED, False),
    ],
)
def test_most_of_the_last_jobs_dead_means_quarantine(recent: list[str], quarantine: bool) -> None:
    assert should_quarantine(recent) is quarantine  # type: ignore[arg-type]


def test_trial_interval_doubles_up_to_a_day() -> None:
    assert trial_interval(0) == FIRST_TRIAL
    assert trial_interval(1) == 2 * FIRST_TRIAL
    assert trial_interval(100) == LONGEST_TRIAL
