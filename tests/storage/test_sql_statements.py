"""Statement counts: membership changes and relation loading do not scale with size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from scimcore.errors import InvalidValue, NotFound, Uniqueness
from scimcore.filters import parse_filter
from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE
from scimcore.storage.base import Member, Query
from scimcore.storage.sql import SqlStore
from scimcore.testing import make_group, make_user, new_org

MEMBERS = 300
CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN")


@contextmanager
def statements(store: SqlStore, *, only: str | None = None) -> Iterator[list[str]]:
    """The statements the block runs, without transaction control (``only``: just the
    ones starting with that word)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(only) if only else not head.startswith(CONTROL):
            seen.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_membership_changes_touch_only_named_rows(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(MEMBERS + 1):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        s.insert("Group", make_group("big", "Big", [f"u{i}" for i in range(MEMBERS)]))
    with sql_store.session(org.id) as s, statements(sql_store) as seen:
        s.add_members("big", [Member(f"u{MEMBERS}")])
        s.remove_members("big", ["u0"])
    # (SQLite: group exists?) / members exist? / insert; delete. PostgreSQL's foreign key
    # names a missing group, and a delete that removed a row needs no look-up.
    assert len(seen) == (3 if sql_store.engine.dialect.name == "postgresql" else 4), seen
    reads_of_members = [q for q in seen if q.startswith("SELECT") and "group_members" in q]
    assert reads_of_members == [], seen
    with sql_store.session(org.id) as s:
        assert len(s.get("Group", "big")["members"]) == MEMBERS


def test_relations_one_query_per_page(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(30):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        for i in range(30):
            s.insert("Group", make_group(f"g{i}", f"group{i}", [f"u{i}", f"u{(i + 1) % 30}"]))
    for rt, statements_run in (("User", 2), ("Group", 3)):
        with sql_store.session(org.id) as s, statements(sql_store) as seen:
            page = s.query(rt, Query(count=25))
        assert len(page.resources) == 25
        # users: the page with each user's groups, and the count;
        # groups: the page, the count, and the members of the page's groups
        assert len(seen) == statements_run, seen
        relation = "groups" if rt == "User" else "members"
        assert all(len(r[relation]) == 2 for r in page.resources), page.resources[:2]
        with sql_store.session(org.id) as s, statements(sql_store) as seen:
            page = s.query(rt, Query(count=25, relations=False))
        assert len(seen) == 2 and not [q for q in seen if "group_members" in q], seen
        assert all("members" not in r and "groups" not in r for r in page.resources)


@contextmanager
def executed(store: SqlStore) -> Iterator[list[tuple[str, Any]]]:
    """Each statement with its parameters, as the driver received them."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_users_groups_are_read_by_probing_the_member_index(sql_store: SqlStore) -> None:
    """GET /Users/{id} reads the user's memberships only, however large its groups are.

    No ANALYZE on SQLite: a deployed SQLite file has no planner statistics either.
    PostgreSQL's autovacuum keeps them, so the test gathers them as it would.
    """
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(MEMBERS):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        s.insert("Group", make_group("big", "Big", [f"u{i}" for i in range(MEMBERS)]))
    with sql_store.session(org.id, readonly=True) as s, executed(sql_store) as seen:
        user = s.get("User", "u7")
    assert [g["value"] for g in user["groups"]] == ["big"]
    lookup = [(q, p) for q, p in seen if "group_members" in q]
    assert len(lookup) == 1, seen
    statement, parameters = lookup[0]
    with sql_store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE group_members")
            conn.exec_driver_sql("ANALYZE resources")
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            plan = "\n".join(r[0] for r in rows)
            member_probe = re.compile(r"Index Cond: .*member_id")
            assert any(member_probe.search(line) for line in plan.splitlines()), plan
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plan = "\n".join(str(r[-1]) for r in rows)
            gm = [line for line in plan.splitlines() if " group_members " in f" {line} "]
            assert gm and all("member_id=?" in line for line in gm), plan


def test_updating_a_user_reads_it_once_and_leaves_unchanged_emails_alone(
    sql_store: SqlStore,
) -> None:
    """What a PATCH of ``active`` runs: lock the row, write it, read it back with the
    user's groups; the email rows are not rewritten."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u1", "user1", emails=[{"value": "One@example.com"}]))
    with sql_store.session(org.id) as s, statements(sql_store) as seen:
        current = s.get("User", "u1", relations=False, for_update=True)
        s.update("User", {**current, "active": False})
        stored = s.get("User", "u1")
    assert stored["active"] is False and stored["emails"] == [{"value": "One@example.com"}]
    assert not [q for q in seen if "resource_emails" in q], seen
    assert [q.split()[0] for q in seen] == ["SELECT", "UPDATE", "SELECT"], seen


def test_changed_emails_are_rewritten_and_found_by_filter(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u1", "user1", emails=[{"value": "old@example.com"}]))
    with sql_store.session(org.id) as s:
        current = s.get("User", "u1", relations=False, for_update=True)
        s.update("User", {**current, "emails": [{"value": "New@example.com"}]})
        # and back within the same transaction: the second write compares with the first
        s.update("User", {**current, "emails": [{"value": "third@example.com"}]})
    with sql_store.session(org.id, readonly=True) as s:
        for address, found in (("old", 0), ("new", 0), ("third", 1)):
            flt = parse_filter(f'emails.value eq "{address}@example.com"', USER_RESOURCE)
            assert s.query("User", Query(filter=flt)).total == found, address


def test_a_member_patch_does_not_look_up_the_group_it_holds(sql_store: SqlStore) -> None:
    """PATCH add+remove one member: the group row locked by the read is not looked
    up again before each membership change."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        for i in range(3):
            s.insert("User", make_user(f"u{i}", f"user{i}"))
        s.insert("Group", make_group("g", "Team", ["u0", "u1"]))
    with sql_store.session(org.id) as s, statements(sql_store) as seen:
        s.get("Group", "g", relations=False, for_update=True)
        s.add_members("g", [Member("u2")])
        s.remove_members("g", ["u0"])
    # the locked read; the new member's type; the insert; the delete
    assert len(seen) == 4, seen
    with sql_store.session(org.id, readonly=True) as s:
        assert [m["value"] for m in s.get("Group", "g")["members"]] == ["u1", "u2"]
    with sql_store.session(org.id) as s:
        s.delete("Group", "g")
        with pytest.raises(NotFound):
            s.add_members("g", [Member("u0")])


def test_idp_lookups_are_one_prebuilt_statement_with_the_filter_semantics(
    sql_store: SqlStore,
) -> None:
    """``userName eq`` (case-insensitive), ``externalId eq`` (exact) and a group's
    ``displayName eq``: what Okta and Entra send before every create."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u1", "Alice@Example.com", externalId="ext-A"))
        s.insert("User", make_user("u2", "bob@example.com", externalId="ext-a"))
        s.insert("User", make_user("u3", "carol@example.com", externalId="ext-a"))
        s.insert("Group", make_group("g1", "Sales Team", ["u1"]))

    def ids(rt: str, text: str, count: int = 10) -> tuple[list[str], int, list[str]]:
        resource_type = USER_RESOURCE if rt == "User" else GROUP_RESOURCE
        with sql_store.session(org.id, readonly=True) as s, statements(sql_store) as seen:
            page = s.query(rt, Query(filter=parse_filter(text, resource_type), count=count))
        return [r["id"] for r in page.resources], page.total, seen

    found, total, seen = ids("User", 'userName eq "ALICE@example.COM"')
    assert (found, total, len(seen)) == (["u1"], 1, 1), seen
    assert ids("User", 'externalId eq "ext-a"')[:2] == (["u2", "u3"], 2)
    assert ids("User", 'externalId eq "EXT-A"')[:2] == ([], 0)
    assert ids("User", 'externalId eq "ext-a"', count=1)[:2] == (["u2"], 2)  # counted
    assert ids("User", 'userName eq "nobody"')[:2] == ([], 0)
    found, total, seen = ids("Group", 'displayName eq "sales team"')
    assert (found, total) == (["g1"], 1)
    with sql_store.session(org.id, readonly=True) as s:
        flt = parse_filter('userName eq "alice@example.com"', USER_RESOURCE)
        (alice,) = s.query("User", Query(filter=flt)).resources
        (group,) = s.query(
            "Group", Query(filter=parse_filter('displayName eq "Sales Team"', GROUP_RESOURCE))
        ).resources
    assert [g["value"] for g in alice["groups"]] == ["g1"]
    assert [m["value"] for m in group["members"]] == ["u1"]


def savepoints(store: SqlStore) -> AbstractContextManager[list[str]]:
    return statements(store, only="SAVEPOINT")


def test_an_update_that_keeps_the_username_takes_no_savepoint(sql_store: SqlStore) -> None:
    """Okta's deactivation (PATCH active) cannot break a unique key: no savepoint, and on
    PostgreSQL two round trips fewer. A rename can, and keeps its savepoint there."""
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u", "keep"))
    with sql_store.session(org.id) as s, savepoints(sql_store) as seen:
        user = s.get("User", "u", for_update=True)
        s.update("User", {**user, "active": False})
    assert seen == []
    with sql_store.session(org.id) as s, savepoints(sql_store) as seen:
        user = s.get("User", "u", for_update=True)
        s.update("User", {**user, "userName": "renamed"})
    assert len(seen) == (1 if sql_store.engine.dialect.name == "postgresql" else 0)


def test_a_refused_rename_leaves_the_session_usable(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("a", "alice"))
        s.insert("User", make_user("b", "bob"))
    with sql_store.session(org.id) as s:
        bob = s.get("User", "b", for_update=True)
        with pytest.raises(Uniqueness):
            s.update("User", {**bob, "userName": "ALICE"})
        s.update("User", {**bob, "active": False})
    with sql_store.session(org.id, readonly=True) as s:
        assert s.get("User", "b")["userName"] == "bob"
        assert s.get("User", "b")["active"] is False


def test_a_nul_character_is_refused_before_the_database_sees_it(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u", "user"))
        user = s.get("User", "u", for_update=True)
        with pytest.raises(InvalidValue, match="NUL"):
            s.update("User", {**user, "displayName": "a\x00b"})
        with pytest.raises(InvalidValue, match="NUL"):
            s.insert("User", make_user("v", "nul\x00name"))
        s.update("User", {**user, "displayName": "a\\u0000b is only text"})
    with sql_store.session(org.id, readonly=True) as s:
        assert s.get("User", "u")["displayName"] == "a\\u0000b is only text"


def test_a_scim_request_session_writes_without_savepoints(sql_store: SqlStore) -> None:
    """A request's session is rolled back whole on a refusal, so none of its writes
    (a create, a group with members, member changes, a rename) pays for a SAVEPOINT."""
    org = new_org(sql_store)
    with sql_store.session(org.id, all_or_nothing=True) as s, savepoints(sql_store) as seen:
        s.insert("User", make_user("u1", "alice"))
        s.insert("User", make_user("u2", "bob"))
        s.insert("Group", make_group("g", "Team", ["u1"]))
        s.add_members("g", [Member("u2")])
        s.remove_members("g", ["u1"])
        bob = s.get("User", "u2", for_update=True)
        s.update("User", {**bob, "userName": "robert"})
    assert seen == []
    with sql_store.session(org.id, readonly=True) as s:
        assert [m["value"] for m in s.get("Group", "g")["members"]] == ["u2"]
        assert s.get("User", "u2")["userName"] == "robert"


def test_a_refusal_in_a_scim_request_session_keeps_nothing_of_it(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u1", "alice"))
    with pytest.raises(Uniqueness), sql_store.session(org.id, all_or_nothing=True) as s:
        s.insert("User", make_user("u2", "bob"))
        s.insert("User", make_user("u3", "ALICE"))
    with pytest.raises(InvalidValue), sql_store.session(org.id, all_or_nothing=True) as s:
        s.insert("Group", make_group("g", "Team", ["u1", "nobody"]))
    with sql_store.session(org.id, readonly=True) as s:
        assert ids_of(s.query("User", Query())) == ["u1"]
        assert ids_of(s.query("Group", Query())) == []


def test_members_added_to_a_group_deleted_meanwhile_find_it_gone(sql_store: SqlStore) -> None:
    """PostgreSQL adds members without looking the group up first; its foreign key
    then tells a group deleted by another transaction from an unknown member."""
    if sql_store.engine.dialect.name != "postgresql":
        pytest.skip("a writing SQLite session holds the database: nobody deletes meanwhile")
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u", "alice"))
        s.insert("Group", make_group("g", "Team"))
    with (
        pytest.raises(NotFound, match="Group 'g'"),
        sql_store.session(org.id, all_or_nothing=True) as s,
    ):
        s.get("Group", "g", relations=False)
        with sql_store.session(org.id) as other:
            other.delete("Group", "g")
        s.add_members("g", [Member("u")])
    with sql_store.session(org.id) as s, pytest.raises(NotFound, match="Group 'g'"):
        s.add_members("g", [Member("u")])
    with sql_store.session(org.id) as s, pytest.raises(NotFound, match="Group 'g'"):
        s.remove_members("g", ["u"])


def ids_of(page: Any) -> list[str]:
    return sorted(r["id"] for r in page.resources)
