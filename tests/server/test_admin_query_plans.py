"""The console's big lists read what one page needs through an index, not every row.

An integration's account list (keyset-paged, filtered by classification or link) and
the Activity page's filter by user are checked with ``EXPLAIN QUERY PLAN`` on SQLite
and ``EXPLAIN`` on PostgreSQL, on a few thousand generated rows of two organizations
(interleaved), so that each page stays cheap however many rows there are. SQLite
keeps no statistics here, so its plans are the ones production gets. PostgreSQL
prefers a sequential scan of tables this small whatever the indexes, so there the
check is that an index serves the query once sequential scans are ruled out
(``enable_seqscan = off``), and which one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from scimcore.storage.sql.activity import events_query
from scimcore.storage.sql.integration_views import account_counts_query, account_page_query
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.tables import events, service_accounts

from .admin_support import Tenant, create_service, make_app, new_tenant

ACCOUNTS = 3000
USERS = 300
CLASSES = ("managed", "retired", "external", "unknown")


def _integration(app: Any, tenant: Tenant, name: str) -> int:
    create_service(app, tenant, name, "scim2")
    with app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        found = next(i for i in session.integrations() if i.display_name == name)
    SqlProvisioningStore(app.extensions["scimserver_admin"].store.engine).bind(
        tenant.id, found.id, "manual", {}
    )
    return int(found.id)


def _fill(engine: sa.engine.Engine, tenant: Tenant, integration: int, part: int) -> None:
    """One of ten interleaved slices of the rows of ``tenant``."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(service_accounts),
            [
                {
                    "organization_id": tenant.id,
                    "integration_id": integration,
                    "user_id": None,
                    "account_id": f"acct{i}@example.com",
                    "link_status": "unlinked",
                    "classification": CLASSES[i % 4],
                    "remote_status": "active",
                    "created": now,
                    "updated": now,
                }
                for i in range(part, ACCOUNTS, 10)
            ],
        )
        conn.execute(
            sa.insert(events),
            [
                {
                    "organization_id": tenant.id,
                    "type": "user.updated" if i % 2 else "account.updated",
                    "resource_type": "User" if i % 2 else "ServiceAccount",
                    "resource_id": f"user-{i // 2 % USERS}" if i % 2 else str(i),
                    "data": {} if i % 2 else {"user_id": f"user-{i // 2 % USERS}"},
                    "source": "scim",
                    "created": now,
                    "planned": True,
                }
                for i in range(part, ACCOUNTS * 2, 10)
            ],
        )


@pytest.fixture
def filled(database_url: str) -> tuple[sa.engine.Engine, Tenant, int]:
    app = make_app(database_url)
    engine: sa.engine.Engine = app.extensions["scimserver_admin"].store.engine
    mine, other = new_tenant(app), new_tenant(app)
    integration = _integration(app, mine, "Big")
    theirs = _integration(app, other, "Other")
    for part in range(10):
        _fill(engine, mine, integration, part)
        _fill(engine, other, theirs, part)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE service_accounts; ANALYZE events"
            )
    return engine, mine, integration


def _plan(engine: sa.engine.Engine, query: sa.Select[Any]) -> str:
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql))


def _no_full_scan(plan: str, table: str) -> None:
    assert f"SCAN {table}" not in plan and f"Seq Scan on {table}" not in plan, plan


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "ix_service_accounts_integration_id"),
        ({"link": "unlinked", "after": 1500}, "ix_service_accounts_integration_id"),
        ({"classification": "retired"}, "ix_service_accounts_classification"),
        ({"classification": "unknown", "after": 2000}, "ix_service_accounts_classification"),
    ],
)
def test_a_page_of_an_integrations_accounts_is_read_through_an_index(
    filled: tuple[sa.engine.Engine, Tenant, int], filters: dict[str, Any], index: str
) -> None:
    engine, tenant, integration = filled
    plan = _plan(engine, account_page_query(tenant.id, integration, **filters))
    if engine.dialect.name == "postgresql" and index == "ix_service_accounts_integration_id":
        # Half of these few rows are the integration's: PostgreSQL rightly walks the
        # primary key in id order and stops at the page's LIMIT.
        index = "pk_service_accounts"
    assert index in plan, plan
    _no_full_scan(plan, "service_accounts")
    with engine.connect() as conn:
        rows = conn.execute(account_page_query(tenant.id, integration, **filters)).all()
    assert 0 < len(rows) <= 201
    assert [r.id for r in rows] == sorted(r.id for r in rows)


def test_counts_per_classification_are_read_from_the_index(
    filled: tuple[sa.engine.Engine, Tenant, int],
) -> None:
    engine, tenant, integration = filled
    plan = _plan(engine, account_counts_query(tenant.id, integration))
    if engine.dialect.name == "sqlite":
        assert "COVERING INDEX ix_service_accounts_classification" in plan, plan
    with engine.connect() as conn:
        counts = dict(conn.execute(account_counts_query(tenant.id, integration)).all())
    assert counts == dict.fromkeys(CLASSES, ACCOUNTS // 4)


def test_activity_filter_by_user_is_read_through_the_events_indexes(
    filled: tuple[sa.engine.Engine, Tenant, int],
) -> None:
    engine, tenant, _ = filled
    for query in (
        events_query(tenant.id, user_id="user-7"),
        events_query(tenant.id, user_id="user-7", before_id=4000),
    ):
        plan = _plan(engine, query)
        assert "ix_events_resource" in plan and "ix_events_data_user_id" in plan, plan
        _no_full_scan(plan, "events")
    with engine.connect() as conn:
        rows = conn.execute(events_query(tenant.id, user_id="user-7", limit=1000)).all()
    # user-7's own events and those of the accounts whose data names user-7
    assert len(rows) == 2 * ACCOUNTS // USERS
    assert {r.resource_type for r in rows} == {"User", "ServiceAccount"}
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
