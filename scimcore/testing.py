"""``StorageContract``: the rules of :mod:`scimcore.storage.base` as pytest tests.

Subclass it in a test module and provide a ``store`` fixture returning your
:class:`~scimcore.storage.base.Store` (it may be shared between tests: every test
creates its own organizations with unique slugs)::

    class TestMyStore(StorageContract):
        @pytest.fixture
        def store(self) -> Store:
            return MyStore(...)

One module, though long: the storage contract suite is one class of tests an
embedder subclasses; each test pins one rule of ``scimcore/storage/base.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .errors import InvalidValue, NotFound, PreconditionFailed, Uniqueness
from .filters import parse_filter
from .paths import resolve
from .schema.core import ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE
from .storage.base import Member, Organization, Query, Resource, Sort, Store

STAMP = "2026-01-0{day}T00:00:00.000000Z"


def make_user(id: str, user_name: str, day: int = 1, **attrs: Any) -> Resource:
    """A canonical User as the service would hand it to storage."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": user_name,
        **attrs,
        "meta": {
            "resourceType": "User",
            "created": STAMP.format(day=day),
            "lastModified": STAMP.format(day=day),
            "version": 'W/"1"',
        },
    }


def make_group(
    id: str, display_name: str, members: tuple[str, ...] | list[str] = (), **attrs: Any
) -> Resource:
    group: Resource = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": id,
        "displayName": display_name,
        **attrs,
        "meta": {
            "resourceType": "Group",
            "created": STAMP.format(day=1),
            "lastModified": STAMP.format(day=1),
            "version": 'W/"1"',
        },
    }
    if members:
        group["members"] = [{"value": m, "type": "User"} for m in members]
    return group


def _org_by_slug(store: Store, slug: str) -> Organization:
    found = store.get_organization(slug)
    assert found is not None, slug
    return found


def new_org(store: Store) -> Organization:
    return store.create_organization(f"t-{uuid.uuid4().hex[:12]}", "Test organization")


def uid() -> str:
    return str(uuid.uuid4())


def ids(resources: list[Resource]) -> list[str]:
    return [r["id"] for r in resources]


class StorageContract:
    """Tests every :class:`~scimcore.storage.base.Store` must pass."""

    # -- helpers --------------------------------------------------------------------

    def filtered(self, store: Store, org: Organization, rt: str, text: str) -> set[str]:
        resource_type = USER_RESOURCE if rt == "User" else GROUP_RESOURCE
        with store.session(org.id) as s:
            page = s.query(rt, Query(filter=parse_filter(text, resource_type), count=1000))
        assert page.total == len(page.resources)
        return set(ids(page.resources))

    # -- organizations --------------------------------------------------------------

    def test_organizations(self, store: Store) -> None:
        org = new_org(store)
        assert store.get_organization(org.slug) == org
        assert org in store.list_organizations()
        assert store.get_organization("no-such-" + uid()) is None
        with pytest.raises(Uniqueness):
            store.create_organization(org.slug, "Again")

    def test_organization_profile(self, store: Store) -> None:
        """The IdP profile (scimcore.compat): ``auto`` by default, checked, canonical."""
        org = new_org(store)
        assert org.profile == "auto"
        updated = store.set_organization_profile(org.id, "Entra-aadOptscim062020")
        assert updated == replace(org, profile="entra-aadOptscim062020")
        assert store.get_organization(org.slug) == updated
        assert store.set_organization_profile(org.id, "OKTA@1").profile == "okta@1"
        assert updated.id in {o.id for o in store.list_organizations() if o.profile == "okta@1"}
        with pytest.raises(InvalidValue) as err:
            store.set_organization_profile(org.id, "okta@99")
        assert "rfc" in err.value.detail
        assert store.get_organization(org.slug) == replace(org, profile="okta@1")
        with pytest.raises(NotFound):
            store.set_organization_profile(uid(), "rfc")
        pinned = store.create_organization(f"t-{uuid.uuid4().hex[:12]}", "Strict", "rfc")
        assert store.get_organization(pinned.slug) == pinned
        assert pinned.profile == "rfc"
        with pytest.raises(InvalidValue):
            store.create_organization(f"t-{uuid.uuid4().hex[:12]}", "Bad", "nope")

    # -- resources ------------------------------------------------------------------

    def test_insert_get_returns_equal_copies(self, store: Store) -> None:
        org = new_org(store)
        user = make_user(
            "u1",
            "bjensen",
            name={"givenName": "Barbara"},
            emails=[{"value": "b@example.com", "type": "work", "primary": True}],
        )
        with store.session(org.id) as s:
            s.insert("User", user)
        user["userName"] = "mutated after insert"
        with store.session(org.id) as s:
            got = s.get("User", "u1")
            assert got["userName"] == "bjensen"
            assert got["emails"] == [{"value": "b@example.com", "type": "work", "primary": True}]
            assert got["meta"]["version"] == 'W/"1"'
            assert "groups" not in got and "members" not in got
            got["name"]["givenName"] = "changed"
            assert s.get("User", "u1")["name"]["givenName"] == "Barbara"

    def test_get_missing_or_wrong_type(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))
            with pytest.raises(NotFound):
                s.get("User", "nope")
            with pytest.raises(NotFound):
                s.get("Group", "u1")
            s.get("User", "u1", for_update=True)

    def test_update_and_versions(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))
        changed = make_user("u1", "A2", title="Boss")
        changed["meta"]["version"] = 'W/"2"'
        with store.session(org.id) as s:
            with pytest.raises(PreconditionFailed):
                s.update("User", changed, expected_version='W/"9"')
            s.update("User", changed, expected_version='W/"1"')
            assert s.get("User", "u1")["title"] == "Boss"
            s.update("User", changed)
            with pytest.raises(NotFound):
                s.update("User", make_user("nope", "x"))
        with store.session(org.id) as s:
            got = s.get("User", "u1")
            assert got["userName"] == "A2" and got["meta"]["version"] == 'W/"2"'
        assert self.filtered(store, org, "User", 'userName eq "a2"') == {"u1"}

    def test_delete(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))
            s.insert("User", make_user("u2", "b"))
            s.insert("Group", make_group("g1", "G", ["u1", "u2"]))
            s.delete("User", "u1")
            with pytest.raises(NotFound):
                s.delete("User", "u1")
            with pytest.raises(NotFound):
                s.delete("Group", "u2")
            assert [m["value"] for m in s.get("Group", "g1")["members"]] == ["u2"]
            s.delete("Group", "g1")
            assert "groups" not in s.get("User", "u2")
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))  # the name and id are free again

    def test_uniqueness_case_insensitive_per_org(self, store: Store) -> None:
        org, other = new_org(store), new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "BJensen"))
            s.insert("Group", make_group("g1", "Admins"))
            s.insert("Group", make_group("g2", "bjensen"))  # another resource type: fine
        with pytest.raises(Uniqueness) as err, store.session(org.id) as s:
            s.insert("User", make_user("u2", "bjensen"))
        assert "userName" in err.value.detail and "bjensen" in err.value.detail
        with pytest.raises(Uniqueness) as err, store.session(org.id) as s:
            s.insert("Group", make_group("g3", "ADMINS"))
        assert "displayName" in err.value.detail
        with pytest.raises(Uniqueness), store.session(org.id) as s:
            s.insert("User", make_user("u3", "x"))
            s.update("User", make_user("u3", "bJENSEN"))
        with store.session(other.id) as s:
            s.insert("User", make_user("u1", "bjensen"))
            s.insert("Group", make_group("g1", "admins"))
        with store.session(org.id) as s, pytest.raises(NotFound):
            s.get("User", "u3")  # rolled back with its session

    def test_session_usable_after_uniqueness(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))
            with pytest.raises(Uniqueness):
                s.insert("User", make_user("u2", "A"))
            s.insert("User", make_user("u3", "c"))
        with store.session(org.id) as s:
            assert ids(s.query("User", Query()).resources) == ["u1", "u3"]

    def test_failed_update_leaves_the_row_as_it_was(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a", emails=[{"value": "a@example.com"}]))
            s.insert("User", make_user("u2", "b"))
        with store.session(org.id) as s:
            with pytest.raises(Uniqueness):
                s.update("User", make_user("u2", "A", emails=[{"value": "x@example.com"}]))
            s.update("User", make_user("u2", "b2"))
        with store.session(org.id) as s:
            assert s.get("User", "u2")["userName"] == "b2"
            assert "emails" not in s.get("User", "u2")
            flt = parse_filter('emails.value eq "x@example.com"', USER_RESOURCE)
            assert s.query("User", Query(filter=flt)).total == 0

    def test_rollback_on_exception(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "a"))
            s.insert("Group", make_group("g1", "G"))
        with pytest.raises(RuntimeError), store.session(org.id) as s:
            s.insert("User", make_user("u2", "b"))
            s.update("User", make_user("u1", "renamed"))
            s.add_members("g1", [Member("u1")])
            s.delete("Group", "g1")
            raise RuntimeError("boom")
        with store.session(org.id) as s:
            assert s.get("User", "u1")["userName"] == "a"
            assert "members" not in s.get("Group", "g1")
            assert s.query("User", Query()).total == 1

    def test_tenant_isolation(self, store: Store) -> None:
        a, b = new_org(store), new_org(store)
        with store.session(a.id) as s:
            s.insert("User", make_user("ua", "alice", externalId="x1"))
            s.insert("Group", make_group("ga", "Team"))
        with store.session(b.id) as s:
            s.insert("Group", make_group("gb", "Team"))
            with pytest.raises(NotFound):
                s.get("User", "ua")
            with pytest.raises(NotFound):
                s.delete("User", "ua")
            with pytest.raises(NotFound):
                s.update("User", make_user("ua", "alice"))
            with pytest.raises(NotFound):
                s.add_members("ga", [])
            with pytest.raises(InvalidValue):
                s.add_members("gb", [Member("ua")])
            assert s.query("User", Query()).total == 0
        assert self.filtered(store, b, "User", 'externalId eq "x1"') == set()
        assert self.filtered(store, a, "User", 'externalId eq "x1"') == {"ua"}

    # -- members --------------------------------------------------------------------

    def test_members(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "one", displayName="User One"))
            s.insert("User", make_user("u2", "two"))
            s.insert("User", make_user("u3", "three"))
            s.insert("Group", make_group("g0", "Inner"))
            s.insert("Group", make_group("g1", "Outer", ["u1"]))
            s.add_members("g1", [Member("u2"), Member("u1"), Member("g0", "Group")])
            members = s.get("Group", "g1")["members"]
            assert members == [
                {"value": "g0", "type": "Group", "display": "Inner"},
                {"value": "u1", "type": "User", "display": "User One"},
                {"value": "u2", "type": "User", "display": "two"},
            ]
            s.remove_members("g1", ["u1", "not-there"])
            assert [m["value"] for m in s.get("Group", "g1")["members"]] == ["g0", "u2"]
            s.replace_members("g1", [Member("u3"), Member("u2")])
            assert [m["value"] for m in s.get("Group", "g1")["members"]] == ["u2", "u3"]
            assert "members" not in s.get("Group", "g1", relations=False)
            s.replace_members("g1", [])
            assert "members" not in s.get("Group", "g1")
            with pytest.raises(NotFound):
                s.add_members("nope", [Member("u1")])

    def test_missing_member_is_invalid_and_changes_nothing(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "one"))
            s.insert("Group", make_group("g1", "G", ["u1"]))
            with pytest.raises(InvalidValue) as err:
                s.add_members("g1", [Member("u1"), Member("ghost-1")])
            assert "ghost-1" in err.value.detail
            with pytest.raises(InvalidValue):
                s.replace_members("g1", [Member("ghost-2")])
            assert [m["value"] for m in s.get("Group", "g1")["members"]] == ["u1"]
            with pytest.raises(InvalidValue):
                s.insert("Group", make_group("g2", "G2", ["u1", "ghost-3"]))
            with pytest.raises(NotFound):
                s.get("Group", "g2")

    def test_user_groups_computed(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert("User", make_user("u1", "one"))
            s.insert("User", make_user("u2", "two"))
            s.insert("Group", make_group("gb", "Beta", ["u1"]))
            s.insert("Group", make_group("ga", "Alpha", ["u1", "u2"]))
            assert s.get("User", "u1")["groups"] == [
                {"value": "ga", "display": "Alpha", "type": "direct"},
                {"value": "gb", "display": "Beta", "type": "direct"},
            ]
            page = s.query("User", Query(relations=False))
            assert all("groups" not in r for r in page.resources)
            page = s.query("User", Query())
            assert [len(r["groups"]) for r in page.resources] == [2, 1]
            groups = s.query("Group", Query(relations=False)).resources
            assert all("members" not in g for g in groups)

    # -- filters --------------------------------------------------------------------

    def _filter_fixture(self, store: Store) -> Organization:
        org = new_org(store)
        ent = ENTERPRISE_USER_SCHEMA
        with store.session(org.id) as s:
            s.insert(
                "User",
                make_user(
                    "u1",
                    "BJensen",
                    day=1,
                    externalId="Ext-1",
                    active=True,
                    title="50% off",
                    name={"givenName": "Barbara", "familyName": "Jensen"},
                    emails=[
                        {"value": "Bjensen@Example.com", "type": "work", "primary": True},
                        {"value": "babs@home.org", "type": "home"},
                    ],
                    **{ent: {"employeeNumber": "701984", "manager": {"value": "u2"}}},
                ),
            )
            s.insert(
                "User",
                make_user(
                    "u2",
                    "jsmith",
                    day=2,
                    active=False,
                    title="a_b",
                    emails=[{"value": "js@example.com", "type": "home"}],
                    **{ent: {"employeeNumber": "1"}},
                ),
            )
            s.insert("User", make_user("u3", "Ünïcode", day=3, title="ab"))
            s.insert("Group", make_group("g1", "Admins", ["u1"], externalId="G-1"))
            s.insert("Group", make_group("g2", "Users", ["u1", "u2"]))
        return org

    def test_filters(self, store: Store) -> None:
        org = self._filter_fixture(store)
        cases = {
            'userName eq "bjensen"': {"u1"},
            'userName eq "ünÏcode"': {"u3"},
            'userName sw "J"': {"u2"},
            'userName gt "c"': {"u2", "u3"},
            'externalId eq "Ext-1"': {"u1"},
            'externalId eq "ext-1"': set(),
            'emails.value eq "BJENSEN@example.COM"': {"u1"},
            'emails co "example.com"': {"u1", "u2"},
            'emails[type eq "work" and value ew ".com"]': {"u1"},
            'emails[type eq "home" and value co "example"]': {"u2"},
            'emails[not (type eq "work")]': {"u1", "u2"},
            'emails.type ne "work"': {"u2", "u3"},
            'title ne "ab"': {"u1", "u2"},
            'title co "50%"': {"u1"},
            'title co "a_b"': {"u2"},
            'title sw "a_"': {"u2"},
            "active eq true": {"u1"},
            "active eq false": {"u2"},
            "not (active eq true)": {"u2", "u3"},
            "active pr": {"u1", "u2"},
            'name.givenName pr and name.familyName eq "JENSEN"': {"u1"},
            "emails pr or externalId pr": {"u1", "u2"},
            'id eq "u2"': {"u2"},
            'meta.created gt "2026-01-01T00:00:00Z"': {"u2", "u3"},
            'meta.lastModified le "2026-01-02T00:00:00Z"': {"u1", "u2"},
            f'{ENTERPRISE_USER_SCHEMA}:employeeNumber eq "701984"': {"u1"},
            f'{ENTERPRISE_USER_SCHEMA}:manager.value eq "u2"': {"u1"},
            f"not ({ENTERPRISE_USER_SCHEMA}:employeeNumber pr)": {"u3"},
            'groups.value eq "g2"': {"u1", "u2"},
            'groups[display eq "admins"]': {"u1"},
            "title eq null": set(),
            "displayName eq null": {"u1", "u2", "u3"},
        }
        for text, expected in cases.items():
            assert self.filtered(store, org, "User", text) == expected, text
        assert self.filtered(store, org, "Group", 'displayName eq "admins"') == {"g1"}
        assert self.filtered(store, org, "Group", 'members[value eq "u2"]') == {"g2"}
        assert self.filtered(store, org, "Group", 'members.value eq "u1"') == {"g1", "g2"}
        assert self.filtered(store, org, "Group", "externalId pr") == {"g1"}

    # -- sort and paging ------------------------------------------------------------

    def test_sort_paging_total(self, store: Store) -> None:
        org = new_org(store)
        names = ["delta", "Alpha", "charlie", "Bravo", "echo", "foxtrot", "golf"]
        with store.session(org.id) as s:
            for i, name in enumerate(names):
                extra = {"title": name.upper()} if i % 2 == 0 else {}
                s.insert("User", make_user(f"u{i}", name, day=7 - i, **extra))
        by_name = sorted(names, key=str.lower)

        def page(**kw: Any) -> tuple[int, list[str]]:
            with store.session(org.id) as s:
                p = s.query("User", Query(**kw))
            return p.total, [r["userName"] for r in p.resources]

        user_name = Sort(resolve(USER_RESOURCE, "userName"))
        assert page(sort=user_name) == (7, by_name)
        assert page(sort=Sort(user_name.path, descending=True)) == (7, by_name[::-1])
        assert page(sort=user_name, start_index=3, count=2) == (7, by_name[2:4])
        assert page(sort=user_name, start_index=7, count=5) == (7, by_name[6:])
        assert page(sort=user_name, start_index=20) == (7, [])
        assert page(sort=user_name, count=0) == (7, [])
        created = Sort(resolve(USER_RESOURCE, "meta.created"))
        assert page(sort=created)[1] == names[::-1]
        # Missing values sort last ascending, first descending; ties by id.
        title = Sort(resolve(USER_RESOURCE, "title"))
        with_title = [n for i, n in enumerate(names) if i % 2 == 0]
        without = [n for i, n in enumerate(names) if i % 2 == 1]  # ids u1, u3, u5 in order
        assert page(sort=title)[1] == sorted(with_title) + without
        desc = page(sort=Sort(title.path, descending=True))[1]
        assert desc == without + sorted(with_title, reverse=True)
        # Unsorted pages are stable and cover everything exactly once.
        seen = page(count=3)[1] + page(start_index=4, count=3)[1] + page(start_index=7)[1]
        assert sorted(seen) == sorted(names)
        f = parse_filter('userName sw "a" or userName sw "b"', USER_RESOURCE)
        assert page(filter=f, count=0) == (2, [])
        assert page(filter=f, sort=user_name, count=1) == (2, ["Alpha"])

    def test_keyset_pages_walk_the_same_order_as_index_pages(self, store: Store) -> None:
        org = new_org(store)
        names = ["delta", "Alpha", "charlie", "Bravo", "echo", "foxtrot", "golf"]
        with store.session(org.id) as s:
            for i, name in enumerate(names):
                extra = {"title": name[0].upper()} if i % 3 else {}
                s.insert("User", make_user(f"u{i}", name, day=7 - i, **extra))
        sorts: list[Sort | None] = [None]
        for attr in ("userName", "title", "meta.created"):
            path = resolve(USER_RESOURCE, attr)
            sorts += [Sort(path), Sort(path, descending=True)]
        for sort in sorts:
            with store.session(org.id) as s:
                expected = [r["id"] for r in s.query("User", Query(sort=sort)).resources]
            walked: list[str] = []
            after = None
            for _ in range(10):
                with store.session(org.id) as s:
                    page = s.query("User", Query(sort=sort, count=2, keyset=True, after=after))
                assert page.total == 7
                walked += [r["id"] for r in page.resources]
                if page.next is None:
                    break
                after = page.next
            assert walked == expected, sort

    def test_sort_multi_valued_by_primary(self, store: Store) -> None:
        org = new_org(store)
        with store.session(org.id) as s:
            s.insert(
                "User",
                make_user("u1", "a", emails=[{"value": "z@x"}, {"value": "b@x", "primary": True}]),
            )
            s.insert("User", make_user("u2", "b", emails=[{"value": "c@x"}, {"value": "a@x"}]))
            s.insert("User", make_user("u3", "c"))
            p = s.query("User", Query(sort=Sort(resolve(USER_RESOURCE, "emails.value"))))
        assert ids(p.resources) == ["u1", "u2", "u3"]

    # -- tokens ---------------------------------------------------------------------

    def test_tokens(self, store: Store) -> None:
        org = new_org(store)
        h1, h2 = uid(), uid()
        assert store.token_info(org.id) is None
        assert store.revoke_token(org.id) is False
        info = store.set_token(org.id, h1, "scim_ab")
        assert (info.status, info.prefix, info.organization_id) == ("active", "scim_ab", org.id)
        assert store.find_active_token(h1) == org
        store.set_token(org.id, h2, "scim_cd")
        assert store.find_active_token(h1) is None
        assert store.find_active_token(h2) == org
        current = store.token_info(org.id)
        assert current is not None and (current.prefix, current.status) == ("scim_cd", "active")
        with pytest.raises(Uniqueness):
            store.set_token(new_org(store).id, h2, "scim_xx")
        at = datetime.now(UTC)
        store.mark_token_used(h2, at)
        store.mark_token_used(h2, at + timedelta(seconds=5))  # may be skipped
        used = store.token_info(org.id)
        assert used is not None and used.last_used is not None
        assert abs(used.last_used - at) <= timedelta(seconds=5)
        assert store.revoke_token(org.id) is True
        assert store.revoke_token(org.id) is False
        assert store.find_active_token(h2) is None
        revoked = store.token_info(org.id)
        assert revoked is not None and revoked.status == "revoked"
        assert store.find_active_token(uid()) is None

    def test_scim_access_switch(self, store: Store) -> None:
        org = new_org(store)
        h = uid()
        store.set_token(org.id, h, "scim_ab")
        assert _org_by_slug(store, org.slug).scim_enabled
        off = store.set_scim_access(org.id, False)
        assert not off.scim_enabled and off.scim_disabled_at is not None
        assert store.find_active_token(h) is None  # the token stays, but does not work
        assert store.set_scim_access(org.id, False).scim_disabled_at == off.scim_disabled_at
        assert not _org_by_slug(store, org.slug).scim_enabled
        assert store.set_scim_access(org.id, True).scim_enabled
        assert store.find_active_token(h) == _org_by_slug(store, org.slug)
        # Revoking turns access off; a new token turns it on again.
        assert store.revoke_token(org.id) is True
        assert not _org_by_slug(store, org.slug).scim_enabled
        h2 = uid()
        store.set_token(org.id, h2, "scim_cd")
        assert _org_by_slug(store, org.slug).scim_enabled
        assert store.find_active_token(h2) == _org_by_slug(store, org.slug)
        with pytest.raises(NotFound):
            store.set_scim_access(uid(), False)
