"""Downstream faults: each one a test. The worker survives all of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scimcore.accounts import KeyRing
from scimcore.adapters.connectors import BearerAuth

from .conftest import Env, scim_auth
from .fakes import FakeScim


def _statuses(env: Env) -> list[str]:
    return [j.status for j in env.jobs()]


def test_downstream_timeout_is_retried_later(env: Env, fake_scim: FakeScim) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    env.create_user("slow@example.com")
    fake_scim.delay = 0.5
    started = time.monotonic()
    stats = env.worker(timeout=0.2).run(until_idle=True)
    assert time.monotonic() - started < 3
    assert stats.retried == 1
    (job,) = env.jobs()
    assert job.status == "pending" and "timed out" in (job.last_error or "")
    assert job.run_after > datetime.now(UTC).replace(microsecond=0) or job.attempts == 1
    fake_scim.delay = 0
    env.make_due()
    env.worker().run(until_idle=True)
    assert _statuses(env) == ["succeeded"]


def test_429_with_retry_after_pauses_the_integration_for_that_long(
    env: Env, fake_scim: FakeScim
) -> None:
    integration = env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    env.create_user("busy@example.com")
    fake_scim.fault = lambda m, p: (429, {"Retry-After": "120"}, b"{}")
    before = datetime.now(UTC)
    env.worker().run(until_idle=True)
    (job,) = env.jobs()
    waited = (job.run_after - before).total_seconds()
    assert job.status == "pending" and 115 <= waited <= 125
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.paused_until is not None
    calls = len(fake_scim.requests)
    env.create_user("busy2@example.com")
    env.worker().run(until_idle=True)
    assert len(fake_scim.requests) == calls  # paused: nobody calls before Retry-After


def test_500_then_recovery_succeeds_without_a_duplicate(env: Env, fake_scim: FakeScim) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    failures = {"left": 2}

    def flaky(method: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
        if failures["left"]:
            failures["left"] -= 1
            return 500, {}, b"oops"
        return None

    fake_scim.fault = flaky
    env.create_user("flaky@example.com")
    for _ in range(3):
        env.worker().run(until_idle=True)
        env.make_due()
    assert _statuses(env) == ["succeeded"]
    assert fake_scim.creates == ["flaky@example.com"]
    assert env.jobs()[0].attempts == 3  # two failures, then the success


def test_401_parks_the_integration_as_needs_reauth_without_a_retry_storm(
    env: Env, fake_scim: FakeScim
) -> None:
    integration = env.integration("scim2", {"base_url": fake_scim.url}, auth=BearerAuth("wrong"))
    for n in range(3):
        env.create_user(f"locked{n}@example.com")
    env.worker().run(until_idle=True)
    calls = len(fake_scim.requests)
    assert calls == 1  # the first call failed; nothing else was tried
    for _ in range(3):
        env.make_due()
        env.worker().run(until_idle=True)
    assert len(fake_scim.requests) == calls
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.integration.status == "needs_reauth"
    assert "HTTP 401" in (binding.last_error or "")
    assert "wrong" not in (binding.last_error or "")
    assert _statuses(env) == ["pending"] * 3 and all(j.attempts == 0 for j in env.jobs())
    # Re-authorized: the same jobs run, once each.
    env.auth[integration] = scim_auth(fake_scim)
    env.prov.set_integration_status(env.org.id, integration, "active")
    env.worker().run(until_idle=True)
    assert _statuses(env) == ["succeeded"] * 3


def test_downstream_down_for_the_whole_run_ends_dead_with_backoff(env: Env) -> None:
    env.integration("scim2", {"base_url": "http://127.0.0.1:9"}, auth=BearerAuth("t"))
    env.create_user("down@example.com")
    delays = []
    for _ in range(8):
        before = datetime.now(UTC)
        env.worker().run(until_idle=True)
        job = env.jobs()[0]
        if job.status == "pending":
            delays.append((job.run_after - before).total_seconds())
        env.make_due()
    (job,) = env.jobs()
    assert job.status == "dead" and job.attempts == job.max_attempts
    assert "failed" in (job.last_error or "")
    assert all(0 <= d <= 2 ** (n + 1) + 1 for n, d in enumerate(delays))
    assert "provisioning.failed" in [e.type for e in env.prov.events(env.org.id)]


def test_malicious_responses_cannot_crash_the_worker(env: Env, fake_scim: FakeScim) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    answers = [
        (200, {}, b"x" * (3 * 1024 * 1024)),  # huge body
        (200, {}, b'{"totalResults": "many", "Resources": {"id": 1}}'),  # wrong types
        (200, {}, b"[" * 100000),  # deeply nested JSON
        (201, {}, b'{"id": 42, "userName": ["x"]}'),
    ]

    def evil(method: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
        return answers.pop(0) if answers else None

    fake_scim.fault = evil
    for n in range(4):
        env.create_user(f"evil{n}@example.com")
    for _ in range(4):
        env.worker().run(until_idle=True)
        env.make_due()
    assert set(_statuses(env)) <= {"dead", "succeeded", "pending"}
    errors = " ".join(j.last_error or "" for j in env.jobs())
    assert "larger than" in errors or "not valid JSON" in errors or "must be" in errors
    for _ in range(3):
        env.worker().run(until_idle=True)
        env.make_due()
    assert "pending" not in _statuses(env)


def test_worker_killed_mid_batch_loses_no_event_and_applies_none_twice(
    tmp_path: Path, fake_scim: FakeScim
) -> None:
    from scimcore.adapters.connectors.credentials import BearerToken, CredentialVault
    from scimcore.storage.sql.credentials import SqlCredentialStore

    from .conftest import make_env

    url = f"sqlite:///{tmp_path / 'kill.db'}"
    env = make_env(url)
    key = KeyRing.generate_key()
    integration = env.integration("scim2", {"base_url": fake_scim.url})
    CredentialVault(SqlCredentialStore(env.store.engine), KeyRing([key])).put(
        integration, BearerToken(fake_scim.token)
    )
    names = [f"batch{n}@example.com" for n in range(12)]
    for name in names:
        env.create_user(name)
    fake_scim.delay = 0.15
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": url,
        "SCIMSERVER_SECRET_KEYS": key,
    }
    script = Path(sys.executable).with_name("scimserver")
    proc = subprocess.Popen(
        [str(script), "worker", "--batch", "12", "--lease-seconds", "1"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while len(fake_scim.creates) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert 3 <= len(fake_scim.creates) < len(names)  # killed in the middle of its batch
    fake_scim.delay = 0
    time.sleep(1.1)  # the dead worker's lease runs out
    env.auth[integration] = scim_auth(fake_scim)
    env.worker().run(until_idle=True)
    assert _statuses(env) == ["succeeded"] * len(names)
    assert sorted(fake_scim.creates) == sorted(names)  # every user once, none twice
    for job in env.jobs():
        assert env.prov.link(env.org.id, integration, job.user_id) is not None
    assert (
        json.dumps([e.type for e in env.prov.events(env.org.id)]).count("scim.user.created") == 12
    )
