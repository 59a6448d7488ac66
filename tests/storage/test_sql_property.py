"""Property test: the SQL compiler selects (and orders) exactly what the in-memory
reference (``scimcore.filters.matches`` + ``MemoryStore``) does, on random filters over
random data with mixed case, LIKE wildcards, backslashes, non-ASCII and absent values.

One populated database per backend is built once per module and reused by every
example.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimcore.filters.nodes import And, Compare, Filter, Not, Or, Present, ValuePath
from scimcore.paths import ResolvedPath, resolve
from scimcore.schema.attributes import AttributeType
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA, USER_RESOURCE
from scimcore.storage.base import Query, Sort, Store
from scimcore.storage.memory import MemoryStore
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlStore, make_engine
from scimcore.testing import make_user

STRINGS = [
    "",
    "a",
    "A",
    "ab",
    "aB%",
    "50%",
    "%",
    "a_b",
    "_",
    "x\\y",
    "\\",
    "/",
    "É",
    "é",
    "ß",
    "SS",
    "İ",
    "i̇",
    "ǅ",
    "Ǆ",
    "work",
    "Work",
    "home",
    "z",
    "Zz",
    "日本",
]
DAYS = [f"2026-01-{d:02d}T0{d % 10}:00:00.000000Z" for d in range(1, 8)]
P = {
    name: resolve(USER_RESOURCE, name)
    for name in (
        "userName",
        "displayName",
        "title",
        "nickName",
        "name.givenName",
        "externalId",
        "id",
        "emails.value",
        "emails.type",
        "emails.primary",
        "active",
        "meta.created",
        f"{ENTERPRISE_USER_SCHEMA}:employeeNumber",
        f"{ENTERPRISE_USER_SCHEMA}:manager.value",
    )
}
EMAILS = resolve(USER_RESOURCE, "emails")
USERS = 40


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(STRINGS) for _ in range(rng.randint(1, 3)))


def make_users(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users = []
    for i in range(USERS):
        attrs: dict[str, Any] = {}
        for key in ("displayName", "title", "nickName", "externalId"):
            if rng.random() < 0.6:
                attrs[key] = _text(rng)
        if rng.random() < 0.6:
            attrs["name"] = {"givenName": _text(rng)} if rng.random() < 0.8 else {}
        if rng.random() < 0.7:
            attrs["active"] = rng.random() < 0.5
        if rng.random() < 0.7:
            emails = []
            for _ in range(rng.randint(0, 3)):
                email: dict[str, Any] = {"value": _text(rng) + "@Ex.com"}
                if rng.random() < 0.7:
                    email["type"] = rng.choice(["work", "Work", "home", "other", "ß"])
                if rng.random() < 0.3:
                    email["primary"] = True
                emails.append(email)
            attrs["emails"] = emails
        if rng.random() < 0.5:
            ext: dict[str, Any] = {"employeeNumber": _text(rng)}
            if rng.random() < 0.5:
                ext["manager"] = {"value": f"u{rng.randrange(USERS):02d}"}
            attrs[ENTERPRISE_USER_SCHEMA] = ext
        user = make_user(f"u{i:02d}", f"{_text(rng)}-{i}", **attrs)
        user["meta"]["created"] = user["meta"]["lastModified"] = rng.choice(DAYS)
        users.append(user)
    return users


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[list[tuple[str, Store, str]]]:
    backends: list[tuple[str, Store]] = [("memory", MemoryStore())]
    sqlite_engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    upgrade(sqlite_engine)
    backends.append(("sqlite", SqlStore(sqlite_engine)))
    engines = [sqlite_engine]
    if os.environ.get("SCIMSERVER_TEST_POSTGRES_URL"):
        fresh = request.getfixturevalue("fresh_postgres")
        pg_engine = make_engine(fresh.create())
        upgrade(pg_engine)
        engines.append(pg_engine)
        backends.append(("postgresql", SqlStore(pg_engine)))
    out = []
    users = make_users()
    for name, store in backends:
        org = store.create_organization("prop", "Property test")
        with store.session(org.id) as s:
            for user in users:
                s.insert("User", user)
        out.append((name, store, org.id))
    yield out
    for engine in engines:
        engine.dispose()


def _values(path: ResolvedPath) -> st.SearchStrategy[Any]:
    kind = path.definition.type
    if kind is AttributeType.BOOLEAN:
        return st.booleans()
    if kind is AttributeType.DATETIME:
        return st.sampled_from(DAYS)
    return st.one_of(
        st.sampled_from(STRINGS),
        st.builds(lambda a, b: a + b, st.sampled_from(STRINGS), st.sampled_from(STRINGS)),
    )


def _ops(path: ResolvedPath) -> list[str]:
    kind = path.definition.type
    if kind is AttributeType.BOOLEAN:
        return ["eq", "ne"]
    if kind is AttributeType.DATETIME:
        return ["eq", "ne", "gt", "ge", "lt", "le"]
    return ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]


@st.composite
def comparisons(draw: st.DrawFn, paths: list[ResolvedPath]) -> Filter:
    path = draw(st.sampled_from(paths))
    if draw(st.integers(0, 9)) == 0:
        return Present(path)
    op = draw(st.sampled_from(_ops(path)))
    if op in ("eq", "ne") and draw(st.integers(0, 14)) == 0:
        return Compare(path, op, None)  # type: ignore[arg-type]
    return Compare(path, op, draw(_values(path)))  # type: ignore[arg-type]


def trees(leaves: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    return st.recursive(
        leaves,
        lambda sub: st.one_of(
            st.builds(And, sub, sub), st.builds(Or, sub, sub), st.builds(Not, sub)
        ),
        max_leaves=5,
    )


INNER = [P["emails.value"], P["emails.type"], P["emails.primary"]]
filters = trees(
    st.one_of(
        comparisons(list(P.values())),
        st.builds(ValuePath, st.just(EMAILS), trees(comparisons(INNER))),
        st.builds(Present, st.just(EMAILS)),
    )
)
SORTABLE = [None, *P.values()]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    f=filters,
    sort_path=st.sampled_from(SORTABLE),
    descending=st.booleans(),
    start=st.sampled_from([1, 1, 2, USERS // 2]),
    count=st.sampled_from([USERS, 3]),
)
def test_sql_matches_memory(
    stores: list[tuple[str, Store, str]],
    f: Filter,
    sort_path: ResolvedPath | None,
    descending: bool,
    start: int,
    count: int,
) -> None:
    """Same total and same page (any start index, sorted or not) as the memory store."""
    sort = Sort(sort_path, descending) if sort_path is not None else None
    query = Query(filter=f, sort=sort, start_index=start, count=count, relations=False)
    results = {}
    for name, store, org_id in stores:
        with store.session(org_id, readonly=True) as s:
            page = s.query("User", query)
        results[name] = (page.total, [r["id"] for r in page.resources])
    expected = results["memory"]
    for name, got in results.items():
        assert got == expected, f"{name} differs from memory for {f!r} sorted by {sort!r}"
