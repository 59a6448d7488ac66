"""SQL-specific filter checks: LIKE escaping and index-backed lookups (query plans)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scimcore.filters import parse_filter
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE
from scimcore.storage.base import Query
from scimcore.storage.sql import SqlStore
from scimcore.storage.sql.filters import FilterCompiler, like_escape
from scimcore.storage.sql.tables import resources
from scimcore.testing import make_group, make_user, new_org


def test_like_escape() -> None:
    assert like_escape("50%_a/b\\") == "50/%/_a//b\\"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('title co "50%"', {"pct"}),
        ('title co "a_b"', {"under"}),
        ('title co "/"', {"slash"}),
        ('title co "\\\\"', {"backslash"}),
        ('title sw "%"', set()),
        ('title ew "_"', set()),
        ('title co ""', {"pct", "under", "slash", "backslash", "plain"}),
    ],
)
def test_like_wildcards_match_literally(sql_store: SqlStore, text: str, expected: set[str]) -> None:
    org = new_org(sql_store)
    titles = {
        "pct": "50% off",
        "under": "a_b",
        "slash": "a/b",
        "backslash": "a\\b",
        "plain": "a-b 50 x",
    }
    with sql_store.session(org.id) as s:
        for id, title in titles.items():
            s.insert("User", make_user(id, id, title=title))
        page = s.query("User", Query(filter=parse_filter(text, USER_RESOURCE)))
    assert {r["id"] for r in page.resources} == expected


def _plan(conn: Connection, stmt: Any) -> str:
    compiled = stmt.compile(dialect=conn.dialect)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
        return "\n".join(r[0] for r in rows)
    params = tuple(compiled.params[k] for k in compiled.positiontup or ())
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.fixture(scope="module")
def populated() -> dict[str, str]:
    """Organization id per backend, holding enough rows for the planners to care."""
    return {}


@pytest.mark.parametrize(
    ("rt", "text", "column"),
    [
        ("User", 'userName eq "user7"', "name_key"),
        ("User", 'externalId eq "ext-7"', "external_id"),
        ("User", 'emails.value eq "User7@Example.com"', "value_key"),
        ("User", 'emails[value eq "user7@example.com"]', "value_key"),
        ("User", 'id eq "u7"', "id"),
        ("Group", 'displayName eq "group 3"', "name_key"),
        ("Group", 'externalId eq "gext-3"', "external_id"),
    ],
)
def test_lookups_are_index_backed(
    sql_store: SqlStore, populated: dict[str, str], rt: str, text: str, column: str
) -> None:
    """The lookup column is an index condition, and resources are never scanned.

    PostgreSQL is told to avoid sequential scans, so a ``Seq Scan`` in its plan means
    no index can serve the predicate at all.
    """
    engine = sql_store.engine
    kind = engine.dialect.name
    if kind not in populated:
        org = new_org(sql_store)
        with sql_store.session(org.id) as s:
            for i in range(300):
                s.insert(
                    "User",
                    make_user(
                        f"u{i}",
                        f"user{i}",
                        externalId=f"ext-{i}",
                        emails=[{"value": f"user{i}@example.com"}],
                    ),
                )
            for i in range(30):
                s.insert("Group", make_group(f"g{i}", f"Group {i}", externalId=f"gext-{i}"))
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        populated[kind] = org.id
    org_id = populated[kind]
    resource_type = USER_RESOURCE if rt == "User" else GROUP_RESOURCE
    compiler = FilterCompiler(kind, org_id, rt)
    r = resources.c
    stmt = sa.select(r.data).where(
        r.organization_id == org_id,
        r.resource_type == rt,
        compiler.where(parse_filter(text, resource_type)),
    )
    with engine.connect() as conn, conn.begin():
        plan = _plan(conn, stmt)
        found = conn.execute(stmt).all()
    assert len(found) == 1, plan
    if kind == "postgresql":
        assert "Seq Scan" not in plan, plan
        conds = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any(re.search(rf"\b{column}\b", line) for line in conds), plan
    else:
        assert "SCAN resources" not in plan, plan
        searches = [line for line in plan.splitlines() if line.startswith("SEARCH")]
        assert any(f"{column}=?" in line for line in searches), plan
