"""Old events are pruned in bounded batches; events the worker still needs are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.provisioning.worker import Worker
from scimcore.storage.sql.tables import events, jobs
from scimserver.config import ConfigError, Settings

from .conftest import Env
from .fakes import CountingConnector

OLD = timedelta(days=100)
RETENTION = timedelta(days=90)


def _age_events(env: Env, by: timedelta) -> None:
    with env.store.engine.begin() as conn:
        conn.execute(
            sa.update(events)
            .where(events.c.organization_id == env.org.id)
            .values(created=datetime.now(UTC) - by)
        )


def _event_ids(env: Env) -> list[int]:
    return [e.id for e in env.prov.events(env.org.id)]


def _worker(env: Env, connector: CountingConnector, **kwargs: object) -> Worker:
    return Worker(
        env.prov,
        StaticCredentials(),
        timeout=2.0,
        loader=lambda _name: connector,
        **kwargs,  # type: ignore[arg-type]
    )


def test_prune_deletes_old_planned_events_and_keeps_recent_ones(any_env: Env) -> None:
    connector = CountingConnector()
    any_env.integration("counting", {})
    any_env.create_user(f"old-{any_env.org.slug}@example.com")
    _worker(any_env, connector).run(until_idle=True, max_seconds=30)
    _age_events(any_env, OLD)
    recent = any_env.create_user(f"recent-{any_env.org.slug}@example.com")
    _worker(any_env, connector).run(until_idle=True, max_seconds=30)
    before = datetime.now(UTC) - RETENTION
    while any_env.prov.prune_events(before, limit=100):
        pass
    left = any_env.prov.events(any_env.org.id)
    assert left and all(e.created > before for e in left)
    assert recent in {e.resource_id for e in left}


def test_prune_keeps_unplanned_events_and_those_an_open_job_refers_to(any_env: Env) -> None:
    connector = CountingConnector()
    integration = any_env.integration("counting", {})
    uid = any_env.create_user(f"waiting-{any_env.org.slug}@example.com")
    any_env.prov.plan()  # the created event is planned into a pending job
    any_env.set_active(uid, False)  # this one is not planned yet
    _age_events(any_env, OLD)
    kept = _event_ids(any_env)
    before = datetime.now(UTC) - RETENTION
    any_env.prov.prune_events(before, limit=1000)
    assert _event_ids(any_env) == kept
    # Once the jobs are done, both events may go.
    _worker(any_env, connector).run(until_idle=True, max_seconds=30)
    done = [j for j in any_env.jobs() if j.integration_id == integration]
    assert [j.status for j in done] == ["succeeded", "succeeded"]
    _age_events(any_env, OLD)
    any_env.prov.prune_events(before, limit=1000)
    assert _event_ids(any_env) == []


def test_prune_deletes_at_most_one_batch_per_call(any_env: Env) -> None:
    for n in range(5):
        any_env.create_user(f"batch{n}-{any_env.org.slug}@example.com")
    any_env.prov.plan()
    _age_events(any_env, OLD)
    before = datetime.now(UTC) - RETENTION
    with any_env.store.engine.begin() as conn:  # nothing left to provision
        conn.execute(sa.delete(jobs).where(jobs.c.organization_id == any_env.org.id))
    assert any_env.prov.prune_events(before, limit=2) == 2
    assert len(_event_ids(any_env)) == 3


def test_worker_prunes_on_its_schedule_in_bounded_batches(env: Env) -> None:
    for n in range(5):
        env.create_user(f"sched{n}@example.com")
    env.prov.plan()  # no integration: the events are planned into no job
    _age_events(env, OLD)
    worker = _worker(env, CountingConnector(), retention=RETENTION, prune_batch=2)
    first = worker.run_once()
    assert first.pruned == 5 and _event_ids(env) == []
    for n in range(3):
        env.create_user(f"later{n}@example.com")
    env.prov.plan()
    _age_events(env, OLD)
    assert worker.run_once().pruned == 0  # not due again for an hour
    assert len(_event_ids(env)) == 3


def test_worker_without_retention_never_prunes(env: Env) -> None:
    env.create_user("kept@example.com")
    env.prov.plan()
    _age_events(env, OLD)
    assert _worker(env, CountingConnector()).run_once().pruned == 0
    assert len(_event_ids(env)) == 1


def test_cli_prunes_by_the_retention_setting_or_the_given_age(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    monkeypatch.setenv(
        "SCIMSERVER_DATABASE_URL", env.store.engine.url.render_as_string(hide_password=False)
    )
    for n in range(3):
        env.create_user(f"cli{n}@example.com")
    env.prov.plan()
    _age_events(env, timedelta(days=40))
    runner = CliRunner()
    kept = runner.invoke(main, ["events", "prune", "--json"])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["pruned"] == 0  # default: 90 days
    monkeypatch.setenv("SCIMSERVER_EVENT_RETENTION_DAYS", "0")
    off = runner.invoke(main, ["events", "prune"])
    assert off.exit_code == 1 and "--older-than" in off.output
    pruned = runner.invoke(main, ["events", "prune", "--older-than", "30", "--json"])
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.output)["pruned"] == 3 and _event_ids(env) == []


def test_retention_setting_defaults_to_90_days_and_0_keeps_forever() -> None:
    memory = {"SCIMSERVER_DATABASE_URL": "sqlite://"}
    assert Settings.from_env(memory).event_retention_days == 90
    off = {**memory, "SCIMSERVER_EVENT_RETENTION_DAYS": "0"}
    assert Settings.from_env(off).event_retention_days == 0
    with pytest.raises(ConfigError, match="SCIMSERVER_EVENT_RETENTION_DAYS"):
        Settings.from_env({**memory, "SCIMSERVER_EVENT_RETENTION_DAYS": "-1"})
