"""``totalResults`` of a whole collection comes from ``resource_counts`` (revision 0013),
kept exact by triggers whatever writes ``resources``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scimcore.errors import ScimError, Uniqueness
from scimcore.filters import parse_filter
from scimcore.schema.core import USER_RESOURCE
from scimcore.storage.base import Query
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlStore, make_engine
from scimcore.storage.sql.resource_rows import row_values
from scimcore.storage.sql.tables import resources
from scimcore.testing import make_group, make_user, new_org

from .test_sql_concurrency import THREADS, race
from .test_sql_statements import statements


def _totals(store: SqlStore, org_id: str, resource_type: str = "User") -> tuple[int, int]:
    """(totalResults of an unfiltered list, the rows really there)."""
    with store.session(org_id, readonly=True) as s:
        total = s.query(resource_type, Query(count=1)).total
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(resources)
            .where(resources.c.organization_id == org_id)
            .where(resources.c.resource_type == resource_type)
        ).scalar_one()
    return total, rows


def test_an_unfiltered_list_reads_the_kept_count_instead_of_counting(
    sql_store: SqlStore,
) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(5):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
    with sql_store.session(org.id, readonly=True) as s, statements(sql_store) as seen:
        page = s.query("User", Query(count=2))
        cursor = s.query("User", Query(count=2, keyset=True))
    assert (page.total, cursor.total) == (5, 5)
    assert not [q for q in seen if "count(" in q.lower()], seen
    # A filtered list still counts its matches.
    with sql_store.session(org.id, readonly=True) as s:
        f = parse_filter('userName sw "user"', USER_RESOURCE)
        assert s.query("User", Query(filter=f, count=2)).total == 5


def test_the_total_follows_creates_deletes_and_refused_writes(sql_store: SqlStore) -> None:
    org, other = new_org(sql_store), new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(6):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        s.insert("Group", make_group("g", "Group", ["u0", "u1"]))
        s.delete("User", "u5")
        with pytest.raises(Uniqueness):
            s.insert("User", make_user("dup", "USER0"))
        with pytest.raises(ScimError):  # its row is written, then its member refused
            s.insert("Group", make_group("bad", "Bad", ["nobody"]))
    with sql_store.session(other.id) as s:
        s.insert("User", make_user("x", "user0"))
    with pytest.raises(RuntimeError), sql_store.session(org.id) as s:
        s.insert("User", make_user("gone", "rolled-back"))
        raise RuntimeError("the request failed after the insert")
    with sql_store.session(org.id) as s:
        s.delete("User", "u0")  # a member: its membership rows cascade
    assert _totals(sql_store, org.id) == (4, 4)
    assert _totals(sql_store, org.id, "Group") == (1, 1)
    assert _totals(sql_store, other.id) == (1, 1)


def test_rows_loaded_straight_into_the_table_are_counted(sql_store: SqlStore) -> None:
    """A bulk load (CSV import, the benchmark seeding) writes ``resources`` directly."""
    org = new_org(sql_store)
    rows = [
        {
            "organization_id": org.id,
            "resource_type": "User",
            **row_values("User", make_user(f"b{i}", f"bulk{i}"), sql_store.names)[0],
        }
        for i in range(250)
    ]
    with sql_store.engine.begin() as conn:
        conn.execute(sa.insert(resources), rows)
        conn.execute(sa.delete(resources).where(resources.c.id.in_(["b0", "b1", "b2"])))
    assert _totals(sql_store, org.id) == (247, 247)


def test_a_transaction_of_many_writes_counts_each_once(sql_store: SqlStore) -> None:
    """A CSV import writes hundreds of users in one transaction, some undone."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(300):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        for i in range(0, 300, 3):
            s.delete("User", f"u{i}")
        with pytest.raises(Uniqueness):
            s.insert("User", make_user("again", "user1"))
    assert _totals(sql_store, org.id) == (200, 200)


def test_concurrent_creates_and_deletes_keep_the_total_exact(sql_store: SqlStore) -> None:
    org = new_org(sql_store)

    def work(i: int) -> str:
        for j in range(4):
            with sql_store.session(org.id) as s:
                s.insert("User", make_user(f"u{i}-{j}", f"user{i}-{j}"))
        with sql_store.session(org.id) as s:
            s.delete("User", f"u{i}-0")
        return "ok"

    assert race(THREADS, work) == ["ok"] * THREADS
    assert _totals(sql_store, org.id) == (THREADS * 3, THREADS * 3)


def _upgrade_with_users_before_0013(url: str) -> None:
    upgrade(url, "0012")
    engine = make_engine(url)
    store = SqlStore(engine)
    try:
        org = new_org(store)
        with engine.begin() as conn:
            then = sa.Table("resources", sa.MetaData(), autoload_with=conn)
            rows = [
                {
                    "organization_id": org.id,
                    "resource_type": "User",
                    **row_values("User", make_user(f"u{i}", f"u{i}"), store.names)[0],
                }
                for i in range(30)
            ]
            conn.execute(sa.insert(then), [{c.name: r[c.name] for c in then.c} for r in rows])
        upgrade(url)
        assert _totals(store, org.id) == (30, 30)
        with store.session(org.id) as s:
            s.insert("User", make_user("after", "after"))
        assert _totals(store, org.id) == (31, 31)
    finally:
        engine.dispose()


def test_the_migration_counts_the_resources_already_there(tmp_path: Path) -> None:
    _upgrade_with_users_before_0013(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_the_migration_counts_the_resources_already_there_on_postgresql(
    fresh_postgres: Any,
) -> None:
    _upgrade_with_users_before_0013(fresh_postgres.create())
