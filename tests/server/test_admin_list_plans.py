"""The console's Users and Groups lists read a page through an index, however big.

Each case opens a console list (a sort, a plain-word search) through the test client,
records the statements it sends to ``resources`` and checks their plans:
``EXPLAIN QUERY PLAN`` on SQLite, which keeps no statistics here, so its plans are
the ones production gets; ``EXPLAIN`` on PostgreSQL with sequential scans ruled out
(on a few thousand rows it rightly prefers them), so the check is that an index
serves the query, and which. Two organizations' rows are interleaved. The measured
cost at 1M users is in docs/performance.md ("Console lists at 1M users").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape as html_unescape
from typing import Any

import pytest
import sqlalchemy as sa

from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE
from scimcore.schema.serializers import load_resource
from scimcore.storage.sql import resource_rows
from scimcore.storage.sql.tables import resource_emails, resources

from .admin_support import Tenant, make_app, new_admin, new_tenant, sign_in

USERS = 1500
GROUPS = 300


def _fill(engine: sa.Engine, names: Any, tenant: Tenant, tag: str) -> None:
    rows: list[dict[str, Any]] = []
    emails: list[dict[str, Any]] = []
    for i in range(USERS):
        body = {
            "schemas": [USER_RESOURCE.schema.id],
            "userName": f"{tag}.user{i:05d}@example.com",
            "displayName": f"{tag.title()} Person {i:05d}",
            "emails": [{"value": f"mail{i:05d}@{tag}.example", "primary": True}],
        }
        stamp = f"2026-01-13T00:{i // 60:02d}:{i % 60:02d}.000000Z"
        data = load_resource(USER_RESOURCE, body)
        data.update(
            id=f"{tag}-u{i:05d}",
            meta={
                "resourceType": "User",
                "created": stamp,
                "lastModified": stamp,
                "version": 'W/"1"',
            },
        )
        rows.append(
            {
                "organization_id": tenant.id,
                "resource_type": "User",
                **resource_rows.row_values("User", data, names)[0],
            }
        )
        emails.append(
            {
                "organization_id": tenant.id,
                "resource_id": data["id"],
                "value_key": data["emails"][0]["value"].lower(),
            }
        )
    for i in range(GROUPS):
        body = {"schemas": [GROUP_RESOURCE.schema.id], "displayName": f"{tag} team {i:04d}"}
        data = load_resource(GROUP_RESOURCE, body)
        stamp = f"2026-01-13T00:00:00.{i:06d}Z"
        data.update(
            id=f"{tag}-g{i:04d}",
            meta={
                "resourceType": "Group",
                "created": stamp,
                "lastModified": stamp,
                "version": 'W/"1"',
            },
        )
        rows.append(
            {
                "organization_id": tenant.id,
                "resource_type": "Group",
                **resource_rows.row_values("Group", data, names)[0],
            }
        )
    with engine.begin() as conn:
        conn.execute(sa.insert(resources), rows)
        conn.execute(sa.insert(resource_emails), emails)


@pytest.fixture
def console(database_url: str) -> Iterator[tuple[Any, sa.Engine, Tenant]]:
    app = make_app(database_url)
    store = app.extensions["scimcore"]["store"]
    engine: sa.Engine = store.engine
    mine, other = new_tenant(app), new_tenant(app)
    _fill(engine, store.names, mine, "ann")
    _fill(engine, store.names, other, "bob")
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE resources; ANALYZE resource_emails"
            )
    client = app.test_client()
    assert sign_in(client, new_admin(app, mine)).status_code == 302
    yield client, engine, mine


def _plans(console: tuple[Any, sa.Engine, Tenant], path: str) -> tuple[str, list[str]]:
    """The page's HTML and the plan of each statement it ran over ``resources``."""
    client, engine, tenant = console
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM resources" in statement:
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(f"/admin/o/{tenant.slug}/{path}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    pg = engine.dialect.name == "postgresql"
    plans = []
    with engine.connect() as conn:
        if pg:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, params in seen:
            explain = "EXPLAIN " if pg else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(explain + statement, params).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    return response.get_data(as_text=True), plans


def _no_scan_or_full_sort(plan: str) -> None:
    for bad in ("SCAN resources", "Seq Scan on resources", "USE TEMP B-TREE FOR ORDER BY"):
        assert bad not in plan, plan
    # PostgreSQL: no sort of every row ("Sort"); "Incremental Sort" orders equal keys by id
    assert not re.search(r"(^|->  )Sort  \(", plan, re.MULTILINE), plan


SORTS = [
    ("displayName", "asc", "ix_resources_display_key_order"),
    ("displayName", "desc", "ix_resources_display_key_order"),
    ("created", "asc", "ix_resources_created_order"),
    ("created", "desc", "ix_resources_created_order"),
    ("modified", "asc", "ix_resources_last_modified_order"),
    ("modified", "desc", "ix_resources_last_modified_order"),
    ("userName", "asc", "NAME"),
    ("userName", "desc", "NAME"),
]


def _index(engine: sa.Engine, index: str) -> str:
    if index != "NAME":
        return index
    if engine.dialect.name == "sqlite":
        return "sqlite_autoindex_resources_2"
    return "uq_resources_organization_id_resource_type_name_key"


@pytest.mark.parametrize(("key", "order", "index"), SORTS)
def test_a_sorted_users_page_is_read_in_index_order(
    console: tuple[Any, sa.Engine, Tenant], key: str, order: str, index: str
) -> None:
    html, plans = _plans(console, f"users?sort={key}&order={order}")
    assert f"{USERS:,} users match" in html
    page = plans[0]
    assert _index(console[1], index) in page, page
    _no_scan_or_full_sort(page)


def test_the_next_page_of_a_sorted_list_continues_through_the_index(
    console: tuple[Any, sa.Engine, Tenant],
) -> None:
    client, _, tenant = console
    first = client.get(f"/admin/o/{tenant.slug}/users?sort=created&order=desc")
    href = first.get_data(as_text=True).split('" rel="next"')[0].rsplit('href="', 1)[1]
    html, plans = _plans(console, html_unescape(href).split(f"/{tenant.slug}/", 1)[1])
    assert "ann.user01449" in html  # 50 in: the 51st newest of 1,500
    assert "ix_resources_created_order" in plans[0], plans[0]
    _no_scan_or_full_sort(plans[0])


@pytest.mark.parametrize(
    ("word", "found"),
    [
        ("ann.user0001", 10),  # userName prefix
        ("ANN PERSON 0002", 10),  # displayName prefix, any case
        ("mail0003", 0),  # an email address is not searched by a plain word
        ("nobody", 0),
    ],
)
def test_a_plain_word_search_reads_only_the_matching_rows(
    console: tuple[Any, sa.Engine, Tenant], word: str, found: int
) -> None:
    html, plans = _plans(console, f"users?q={word}")
    assert f"{found} user{'s' if found != 1 else ''} match" in html
    engine = console[1]
    for plan in plans:
        for bad in ("SCAN resources", "Seq Scan on resources"):
            assert bad not in plan, plan
    if engine.dialect.name == "postgresql":
        # one range per index, their rows merged (BitmapOr), then the page sorted
        for index in ("ix_resources_display_key_order", _index(engine, "NAME")):
            assert index in plans[0], plans[0]
    else:
        # SQLite (no statistics) counts the matches first, from the two ranges; fewer
        # than the console's cap, it reads the page from the same ranges and sorts it
        # rather than walking every user in page order (3 s at 1M users).
        count, page = plans
        for plan in (count, page):
            assert "MULTI-INDEX OR" in plan and "ix_resources_listing" not in plan, plan
        assert "USE TEMP B-TREE FOR ORDER BY" in page, page


@pytest.mark.parametrize("sort", ["", "&sort=userName&order=desc", "&sort=created&order=asc"])
def test_the_next_page_of_a_rare_word_reads_only_the_matching_rows(
    console: tuple[Any, sa.Engine, Tenant], sort: str
) -> None:
    client, engine, tenant = console
    first = client.get(f"/admin/o/{tenant.slug}/users?q=ann.user000{sort}")
    href = first.get_data(as_text=True).split('" rel="next"')[0].rsplit('href="', 1)[1]
    html, plans = _plans(console, html_unescape(href).split(f"/{tenant.slug}/", 1)[1])
    assert html.count(f"/{tenant.slug}/users/ann-u") == 50  # the second half of 100
    for plan in plans:
        assert "SCAN resources" not in plan and "Seq Scan on resources" not in plan, plan
    if engine.dialect.name == "sqlite":
        # the position is no key range either: the rows after it are most of the list
        for plan in plans:
            assert "MULTI-INDEX OR" in plan and "ix_resources_listing" not in plan, plan


def test_a_word_matching_more_than_the_cap_walks_the_list_in_page_order(
    console: tuple[Any, sa.Engine, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.admin import views_directory

    monkeypatch.setattr(views_directory, "TOTAL_LIMIT", 1000)
    html, plans = _plans(console, "users?q=ann")
    assert "More than 1,000 users match; showing 1\u201350." in html
    if console[1].dialect.name == "sqlite":
        # nearly every row matches: the first 50 in page order are the page
        count, page = plans
        assert "MULTI-INDEX OR" in count, count
        assert "ix_resources_listing" in page, page
        _no_scan_or_full_sort(page)


def test_a_broad_search_counts_no_further_than_ten_thousand(
    console: tuple[Any, sa.Engine, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.admin import views_directory

    monkeypatch.setattr(views_directory, "TOTAL_LIMIT", 1000)
    html, _ = _plans(console, "users?q=ann")
    assert "More than 1,000 users match; showing 1\u201350." in html
    narrow, _ = _plans(console, "users?q=ann.user000")
    assert "100 users match" in narrow


def test_a_groups_page_and_a_group_search_use_the_name_index(
    console: tuple[Any, sa.Engine, Tenant],
) -> None:
    engine = console[1]
    html, plans = _plans(console, "groups?sort=displayName&order=desc")
    assert f"{GROUPS} groups match" in html and "ann team 0299" in html
    assert _index(engine, "NAME") in plans[0], plans[0]
    _no_scan_or_full_sort(plans[0])
    html, plans = _plans(console, "groups?q=Ann team 001")
    assert "10 groups match" in html
    assert _index(engine, "NAME") in plans[0], plans[0]
    for plan in plans:
        assert "SCAN resources" not in plan and "Seq Scan on resources" not in plan, plan


@pytest.mark.parametrize(
    ("key", "order", "index"),
    [
        ("userName", "asc", "NAME"),
        ("userName", "desc", "NAME"),
        ("created", "asc", "ix_resources_created_order"),
        ("created", "desc", "ix_resources_created_order"),
    ],
)
def test_a_later_sorted_page_starts_at_its_position_in_the_index(
    console: tuple[Any, sa.Engine, Tenant], key: str, order: str, index: str
) -> None:
    """The keyset condition after (k, i) is index ranges, not an OR the index cannot
    seek to: ``(key, id) > (k, i)`` ascending, ``key = k and id > i`` then ``key < k``
    descending. At 1M users a page 90 % in took 0.65 s on PostgreSQL before."""
    client, engine, tenant = console
    first = client.get(f"/admin/o/{tenant.slug}/users?sort={key}&order={order}")
    href = first.get_data(as_text=True).split('" rel="next"')[0].rsplit('href="', 1)[1]
    html, plans = _plans(console, html_unescape(href).split(f"/{tenant.slug}/", 1)[1])
    assert html.count(f"/{tenant.slug}/users/ann-u") == 50
    column = "name_key" if key == "userName" else "created"
    pg = engine.dialect.name == "postgresql"
    seek = re.compile(
        rf"Index Cond: .*(\b{column}[):a-z]* [<>]=? |ROW\(\(?{column}\b)"
        if pg
        else rf"\b{column}[<>]\?|\({column},id\)>"
    )
    pages = [plan for plan in plans if _index(engine, index) in plan]
    assert pages and seek.search(pages[-1]), plans
    _no_scan_or_full_sort(pages[-1])
    for plan in pages[:-1]:  # descending: the rows of key k itself, one here
        assert "SCAN resources" not in plan and "Seq Scan" not in plan, plan
        assert re.search(rf"\b{column}[):a-z]* = |\b{column}=\?", plan), plan
