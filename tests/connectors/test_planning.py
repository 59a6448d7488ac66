"""Planning never starves: a backlog no integration wants is set aside in bulk, other
organizations' backlogs do not delay a fresh event, and a user's jobs keep the order
of its events however many workers plan at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from scimcore.storage.sql.tables import events, jobs

from .conftest import Env, make_env, scim_auth
from .fakes import FakeScim

BACKLOG = 100_000


def _backlog(env: Env, organization_id: str, count: int, **row: object) -> None:
    """``count`` unplanned user events of ``organization_id``, written in bulk."""
    now = datetime.now(UTC)
    values = {
        "organization_id": organization_id,
        "type": "scim.user.updated",
        "resource_type": "User",
        "data": {},
        "source": "csv",
        "created": now,
        "planned": False,
        **row,
    }
    with env.store.engine.begin() as conn:
        for start in range(0, count, 20_000):
            conn.execute(
                sa.insert(events),
                [
                    {"resource_id": f"backlog-{n}", **values}
                    for n in range(start, min(count, start + 20_000))
                ],
            )


@pytest.fixture
def quiet_org(any_env: Env) -> Iterator[str]:
    """An organization with no integration; its rows are removed afterwards, so the
    PostgreSQL database the other tests share does not carry the backlog on."""
    org = any_env.store.create_organization(f"quiet-{any_env.org.slug}", "No integrations")
    yield org.id
    with any_env.store.engine.begin() as conn:
        for table in (jobs, events):
            conn.execute(sa.delete(table).where(table.c.organization_id == org.id))


def _unplanned(env: Env, organization_id: str) -> int:
    with env.store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(events)
                .where(events.c.organization_id == organization_id, sa.not_(events.c.planned))
            ).scalar_one()
        )


def test_one_worker_run_provisions_a_new_user_behind_a_100k_backlog_nobody_wants(
    any_env: Env, quiet_org: str, fake_scim: FakeScim
) -> None:
    _backlog(any_env, quiet_org, BACKLOG)
    any_env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    any_env.create_user("behind-the-backlog@example.com")
    stats = any_env.worker().run(until_idle=True, max_seconds=300)  # what `worker --once` runs
    assert fake_scim.by_name("behind-the-backlog@example.com") is not None
    assert _unplanned(any_env, quiet_org) == 0  # the backlog is gone too, without a job
    assert stats.planned >= BACKLOG + 1
    with any_env.store.engine.connect() as conn:
        made = conn.execute(
            sa.select(sa.func.count()).select_from(jobs).where(jobs.c.organization_id == quiet_org)
        ).scalar_one()
    assert made == 0


def test_a_fresh_event_is_planned_in_the_next_call_whatever_another_backlog(
    any_env: Env,
) -> None:
    """Both organizations provision; the first has 2,000 events waiting."""
    busy = make_env(any_env.store.engine.url.render_as_string(hide_password=False))
    busy.integration("manual", {})
    any_env.integration("manual", {})
    try:
        _backlog(busy, busy.org.id, 2_000)
        fresh = any_env.create_user("fresh@example.com")
        assert any_env.prov.plan(limit=100) == 100
        planned = {j.user_id for j in any_env.prov.jobs(limit=1000) if j.user_id == fresh}
        assert planned == {fresh}
        # The other organization's oldest events took the rest of the batch, in order.
        assert 1 <= 2_000 - _unplanned(busy, busy.org.id) <= 99
    finally:
        with busy.store.engine.begin() as conn:
            for table in (jobs, events):
                conn.execute(sa.delete(table).where(table.c.organization_id == busy.org.id))


@pytest.mark.postgres
def test_concurrent_planners_keep_a_users_jobs_in_event_order(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: planners cannot overlap there")
    env = make_env(database_url)
    env.integration("manual", {})
    try:
        types = ("scim.user.deactivated", "scim.user.reactivated")
        with env.store.engine.begin() as conn:
            conn.execute(
                sa.insert(events),
                [
                    {
                        "organization_id": env.org.id,
                        "type": types[n % 2],
                        "resource_type": "User",
                        "resource_id": "one-user",
                        "data": {},
                        "source": "scim",
                        "created": datetime.now(UTC),
                        "planned": False,
                    }
                    for n in range(600)
                ],
            )
        start = threading.Barrier(4)

        def plan() -> None:
            start.wait(10)
            while env.prov.plan(limit=20):
                pass

        threads = [threading.Thread(target=plan) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        with env.store.engine.connect() as conn:
            order = list(
                conn.execute(
                    sa.select(jobs.c.event_id)
                    .where(jobs.c.organization_id == env.org.id)
                    .order_by(jobs.c.id)
                ).scalars()
            )
        assert len(order) == 600
        assert order == sorted(order)  # the worker runs a user's jobs in job order
    finally:
        with env.store.engine.begin() as conn:
            for table in (jobs, events):
                conn.execute(sa.delete(table).where(table.c.organization_id == env.org.id))
