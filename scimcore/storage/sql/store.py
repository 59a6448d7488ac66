"""The SQL :class:`~scimcore.storage.base.Store` (SQLite and PostgreSQL, via SQLAlchemy Core).

One :meth:`SqlStore.session` is one database transaction. A write that fails (a taken
``userName``, an unknown member) leaves the transaction usable and nothing of that
write behind: it runs in a SAVEPOINT, or on SQLite, where a failed statement undoes
itself, as one statement where it can (see ``SqlSession._write``). A session opened
``all_or_nothing`` (one SCIM request) is rolled back whole on a refusal, so its writes
need no SAVEPOINT. The statements a request runs are prebuilt (:mod:`.statements`).
Uniqueness comes from unique indexes, never from read-then-write checks; membership
changes are set-based statements that touch only the rows named. Errors meaning "the
database cannot be reached" become :class:`~scimcore.errors.ServiceUnavailable`; the
engine replaces dead connections once the database is back (:mod:`.engine`).

One module, though long: ``SqlSession`` (a transaction's reads and writes) and
``SqlStore`` (sessions, organizations, tokens) share the prebuilt statements; how a
resource becomes its row is :mod:`.resource_rows`, keyset paging :mod:`.keyset`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from ...compat import DEFAULT_PROFILE, canonical_profile_name
from ...errors import (
    InvalidValue,
    NotFound,
    PreconditionFailed,
    Uniqueness,
)
from ...filters.nodes import Compare
from ...jsontext import is_unicode
from ...provisioning.events import NewEvent
from ...schema.attributes import ResourceType
from ...schema.core import GROUP_RESOURCE, USER_RESOURCE
from ..base import Keyset, Member, Organization, Page, Query, Resource, TokenInfo
from .engine import DriverRead, single_read, transaction
from .filters import FilterCompiler
from .keyset import rows_after, sort_key, unindexed
from .outbox import insert_event
from .resource_rows import (
    as_member,
    cells,
    email_keys,
    row_values,
    storable,
    unique_names,
    with_groups,
)
from .statements import ids_params, statements
from .tables import group_members, organizations, resources, scim_tokens

#: Uses of a token closer together than this are not written (saves a write per request).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
#: The foreign key from a membership row to its group (revision 0001).
GROUP_KEY_CONSTRAINT = "fk_group_members_organization_id_group_id_resources"


def _now() -> datetime:
    return datetime.now(UTC)


class SqlSession:
    """One transaction in one organization (:class:`~scimcore.storage.base.StoreSession`)."""

    def __init__(
        self,
        conn: Connection,
        organization_id: str,
        names: dict[str, str | None],
        *,
        readonly: bool = False,
        all_or_nothing: bool = False,
    ) -> None:
        self.conn = conn
        self.org = organization_id
        self.dialect = conn.dialect.name
        self.names = names
        self.st = statements(self.dialect)
        # What this transaction wrote, so reading it back costs no query (the document
        # as stored, in JSON), and the email keys of the users it holds, so a write
        # that leaves the emails as they were does not rewrite their rows.
        self._written: dict[tuple[str, str], str] = {}
        self._emails: dict[tuple[str, str], list[str]] = {}
        # The name key (lowered userName) of the users it locked or wrote: an update that
        # keeps it cannot break the unique index (see ``_write``).
        self._name_keys: dict[tuple[str, str], str | None] = {}
        # Rows this transaction locked or wrote: known to exist until it deletes them.
        # A writing transaction on SQLite holds the whole database, so every row it read.
        self._held: set[tuple[str, str]] = set()
        self._holds_all = self.dialect == "sqlite" and not readonly
        # A refused write ends the transaction: nothing to undo it alone for.
        self._undo_each_write = not all_or_nothing

    # -- resources ----------------------------------------------------------------------

    def get(
        self, resource_type: str, id: str, *, relations: bool = True, for_update: bool = False
    ) -> Resource:
        if relations and resource_type != "Group":
            q = self.st.get_with_groups_for_update if for_update else self.st.get_with_groups
            row = self.conn.execute(q, self._key(resource_type, id)).first()
            if row is None:
                raise NotFound(f"{resource_type} '{id}' not found.")
            if for_update or self._holds_all:
                self._held.add((resource_type, id))
            if for_update and resource_type == "User":
                self._remember_user(id, row[0])
            return with_groups(row[0], row[1])
        written = None if for_update else self._written.get((resource_type, id))
        if written is not None:
            data = json.loads(written)
        else:
            # SQLite: a writing session already holds the write lock (BEGIN IMMEDIATE).
            q = self.st.get_for_update if for_update else self.st.get
            data = self.conn.execute(q, self._key(resource_type, id)).scalar_one_or_none()
            if data is None:
                raise NotFound(f"{resource_type} '{id}' not found.")
            if for_update or self._holds_all:
                self._held.add((resource_type, id))
            if for_update and resource_type == "User":
                self._remember_user(id, data)
        resource: Resource = dict(data)
        if relations:
            self._fill_members([resource])
        return resource

    def insert(self, resource_type: str, resource: Resource) -> None:
        row, text = row_values(resource_type, resource, self.names)
        with self._write(resource_type, row):
            self.conn.execute(
                self.st.insert, {"organization_id": self.org, "resource_type": resource_type, **row}
            )
            self._write_emails(resource_type, row["id"], resource, replace=False)
            if resource_type == "Group" and resource.get("members"):
                members = [as_member(m) for m in resource["members"]]
                self._add(row["id"], members)
        self._written[(resource_type, row["id"])] = text
        self._held.add((resource_type, row["id"]))

    def update(
        self, resource_type: str, resource: Resource, *, expected_version: str | None = None
    ) -> None:
        row, text = row_values(resource_type, resource, self.names)
        id = row.pop("id")
        params = {**self._key(resource_type, id), **row}
        statement = self.st.update
        if expected_version is not None:
            statement = self.st.update_if_version
            params["k_version"] = expected_version
        keeps_name = (
            resource_type == "User"
            and (resource_type, id) in self._name_keys
            and self._name_keys[(resource_type, id)] == row["name_key"]
        )
        with self._write(resource_type, {**row, "id": id}, keeps_unique_keys=keeps_name):
            done = self.conn.execute(statement, params)
            if done.rowcount == 0:
                self._require(resource_type, id)
                raise PreconditionFailed(
                    f"{resource_type} '{id}' has changed: its version is no longer "
                    f"{expected_version}."
                )
            self._write_emails(resource_type, id, resource, replace=True)
        self._written[(resource_type, id)] = text
        self._held.add((resource_type, id))
        if resource_type == "User":
            self._name_keys[(resource_type, id)] = row["name_key"]

    def delete(self, resource_type: str, id: str) -> None:
        done = self.conn.execute(self.st.delete, self._key(resource_type, id))
        self._written.pop((resource_type, id), None)
        self._emails.pop((resource_type, id), None)
        self._name_keys.pop((resource_type, id), None)
        self._held.discard((resource_type, id))
        if done.rowcount == 0:
            raise NotFound(f"{resource_type} '{id}' not found.")

    def query(self, resource_type: str, query: Query) -> Page:
        lookup = self._lookup(resource_type, query)
        if lookup is not None:
            return lookup
        r = resources.c
        compiler = FilterCompiler(self.dialect, self.org, resource_type)
        where = list(self.st.collection)
        collection = {"k_org": self.org, "k_type": resource_type}
        if query.filter is not None:
            where.append(compiler.where(query.filter))

        def count() -> int:
            statement = self.st.size if query.filter is None else self.st.count.where(where[-1])
            return int(self.conn.execute(statement, collection).scalar_one())

        offset = 0 if query.keyset else max(query.start_index, 1) - 1
        total_of: Callable[[], int] = count
        if query.filter is not None and query.total_limit is not None and offset == 0:
            total_of = self._counter(where, collection, query.total_limit)
        known: int | None = None
        if query.count <= 0 or offset > 0:
            # A later page needs the total anyway; past the end there is no page query
            # (and no OFFSET too large for the database to bind).
            known = count()
            if query.count <= 0 or offset >= known:
                return Page(total=known)
        # SQLite keeps no statistics, so for a filter and an order served by different
        # indexes it reads the collection in page order, testing each row: at 1M users
        # a rare word's first page took 3 s that way, where reading the matches from
        # their index ranges and sorting them takes a millisecond. Which plan wins
        # depends on how many rows match, which only a count tells: a console page
        # (capped total) whose filter is all index ranges counts first (it needs the
        # total anyway), and when fewer than the cap match, orders by ``+key``, which
        # no index serves, so SQLite sorts the matches. A word matching nearly everyone
        # keeps the walk in page order, which finds a page at once.
        sort_matches = False
        if (
            query.keyset
            and self.dialect == "sqlite"
            and query.filter is not None
            and query.total_limit is not None
            and compiler.reads_key_ranges(query.filter)
        ):
            counted = total_of()
            total_of = lambda: counted  # noqa: E731
            sort_matches = counted < query.total_limit
        key: Any = None
        order: list[Any] = []
        if query.sort is not None:
            key = compiler.sort_key(query.sort.path)
            if key is not None:
                k = unindexed(key) if sort_matches else key
                order.append(
                    k.desc().nulls_first() if query.sort.descending else k.asc().nulls_last()
                )
        order.append(unindexed(r.id) if sort_matches else r.id)
        groups = query.relations and resource_type != "Group"
        columns = [r.data, self.st.user_groups] if groups else [r.data]
        if not query.keyset:
            page = sa.select(*columns).where(*where).order_by(*order).limit(query.count)
            if offset:
                # Skip rows by id alone, then read the page's rows: PostgreSQL computes
                # every selected column (the groups subquery) of each row it skips,
                # which made page 500 of 100k users take 0.8 s instead of 0.02 s.
                ids = (sa.select(r.id).where(*where).order_by(*order).offset(offset)).limit(
                    query.count
                )
                page = page.where(r.id.in_(ids.scalar_subquery()))
            rows = self.conn.execute(page, collection).all()
            found: list[Resource] = [
                with_groups(row[0], row[1]) if groups else dict(row[0]) for row in rows
            ]
            # A short first page is the only one, so it tells the total by itself: a
            # userName eq lookup or a small collection needs no COUNT over the filter.
            if known is not None:
                total = known
            else:
                total = len(found) if len(found) < query.count else total_of()
            if query.relations and not groups:
                self._fill_members(found)
            return Page(total=total, resources=found)
        return self._keyset_page(
            resource_type, query, where, order, key, total_of, collection, sort_matches
        )

    def _counter(self, where: list[Any], params: dict[str, str], limit: int) -> Callable[[], int]:
        """How many rows match ``where``, counting no further than ``limit``: the count
        stops reading the index or the table at the ``limit``-th match."""
        matches = sa.select(resources.c.id).where(*where).limit(limit).subquery()
        statement = sa.select(sa.func.count()).select_from(matches)
        return lambda: int(self.conn.execute(statement, params).scalar_one())

    def _lookup(self, resource_type: str, query: Query) -> Page | None:
        """The first page of ``userName eq "…"`` (Groups: ``displayName``) or
        ``externalId eq "…"``, through a prebuilt statement; None for any other query.

        Okta and Entra ID send one of these before every create and on every sync, so
        they skip building and compiling a statement from the filter. They match what
        :class:`.filters.FilterCompiler` produces for the same filter: the unique name
        compared case-insensitively (its folded key), ``externalId`` exactly.
        """
        f = query.filter
        if (
            not isinstance(f, Compare)
            or f.op != "eq"
            or not isinstance(f.value, str)
            or f.path.extension
            or f.path.sub_attribute is not None
            or query.sort is not None
            or query.keyset
            or query.start_index > 1
            or query.count <= 0
        ):
            return None
        name = f.path.attribute.name
        routed_name = {"User": "userName", "Group": "displayName"}.get(resource_type)
        if f.path.schema_id is not None and name == routed_name:
            column, value = "name_key", f.value.lower()
        elif f.path.schema_id is None and name == "externalId" and f.path.definition.case_exact:
            column, value = "external_id", f.value
        else:
            return None
        groups = query.relations and resource_type != "Group"
        params = {"k_org": self.org, "k_type": resource_type, "k_value": value}
        rows = self.conn.execute(
            self.st.lookup(column, groups), {**params, "k_limit": query.count}
        ).all()
        found: list[Resource] = [
            with_groups(row[0], row[1]) if groups else dict(row[0]) for row in rows
        ]
        total = len(found)
        if total == query.count:  # a full page (externalId is not unique): count them
            total = int(self.conn.execute(self.st.lookup_count(column), params).scalar_one())
            if query.total_limit is not None:
                total = min(total, query.total_limit)
        if query.relations and not groups:
            self._fill_members(found)
        return Page(total=total, resources=found)

    def _keyset_page(
        self,
        resource_type: str,
        query: Query,
        where: list[Any],
        order: list[Any],
        key: Any,
        count: Callable[[], int],
        collection: dict[str, str],
        sort_matches: bool,
    ) -> Page:
        """One page after ``query.after`` in (sort key, id) order: an index range scan
        for the default order, however deep the page (RFC 9865 cursors)."""
        r = resources.c
        key_column = key if key is not None else sa.null()
        groups = query.relations and resource_type != "Group"
        page = (
            sa.select(r.data, key_column, r.id, *([self.st.user_groups] if groups else []))
            .where(*where)
            .order_by(*order)
        )
        rows: list[Any] = []
        parts: list[Any] = [None]
        if query.after is not None:
            # Sorting the matches, the position must not lead SQLite to a key range
            # (all the rows after it) rather than the filter's.
            k, i = (key, r.id)
            if sort_matches:
                k, i = (None if key is None else unindexed(key)), unindexed(r.id)
            parts = rows_after(k, i, query.after, query.sort)
        for part in parts:
            statement = page if part is None else page.where(part)
            rows += self.conn.execute(statement.limit(query.count + 1 - len(rows)), collection)
            if len(rows) > query.count:
                break
        found = [
            with_groups(row[0], row[3]) if groups else dict(row[0]) for row in rows[: query.count]
        ]
        following = None
        if len(rows) > query.count:
            last = rows[query.count - 1]
            following = Keyset(sort_key(last[1], query.sort) if key is not None else None, last[2])
        if query.relations and not groups:
            self._fill_members(found)
        # A walk that fits in its first page knows its total without a COUNT.
        total = len(found) if query.after is None and following is None else count()
        return Page(total=total, resources=found, next=following)

    # -- members ------------------------------------------------------------------------

    def add_members(self, group_id: str, members: Sequence[Member]) -> None:
        # PostgreSQL's foreign key names a missing group (see ``_add``), so the insert
        # needs no look-up first; SQLite's error names no constraint.
        if self.dialect != "postgresql" or not members:
            self._require("Group", group_id)
        with self._undoable():
            self._add(group_id, members)

    def remove_members(self, group_id: str, values: Sequence[str]) -> None:
        removed = 0
        values = [v for v in values if storable(v)]  # any other is nobody's id
        if values:
            long, params = ids_params(self.dialect, list(dict.fromkeys(values)))
            removed = self.conn.execute(
                self.st.remove_members(long), {"k_org": self.org, "k_group": group_id, **params}
            ).rowcount
        if not removed:  # a group that lost a member exists; otherwise look
            self._require("Group", group_id)

    def replace_members(self, group_id: str, members: Sequence[Member]) -> None:
        self._require("Group", group_id)
        ids = list(dict.fromkeys(m.value for m in members))
        with self._undoable():
            types = self._check_members(ids)
            long, params = ids_params(self.dialect, ids)
            self.conn.execute(
                self.st.remove_members(long, keep=True),
                {"k_org": self.org, "k_group": group_id, **params},
            )
            self._add(group_id, members, types=types)

    def record_event(self, event: NewEvent) -> None:
        """Write ``event`` to the outbox in this transaction (see :mod:`.outbox`)."""
        insert_event(self.conn, self.org, event)

    # -- internals ----------------------------------------------------------------------

    def _key(self, resource_type: str, id: str) -> dict[str, str]:
        """Parameters naming one resource in the :class:`.statements.Statements`."""
        return {"k_org": self.org, "k_id": id, "k_type": resource_type}

    def _require(self, resource_type: str, id: str) -> None:
        if (resource_type, id) in self._held:
            return  # locked or written by this transaction, and not deleted since
        found = self.conn.execute(self.st.exists, self._key(resource_type, id)).first()
        if found is None:
            raise NotFound(f"{resource_type} '{id}' not found.")

    def _check_members(self, ids: list[str]) -> dict[str, str]:
        """One set-based query: every id must be a User or Group of this organization.

        Returns each member's resource type, which is taken from the database rather
        than from the request.
        """
        if not ids:
            return {}
        # No id holds NUL or a lone surrogate, and the drivers refuse them as parameters.
        missing = [i for i in ids if not storable(i)]
        ids = [i for i in ids if storable(i)]
        long, params = ids_params(self.dialect, ids)
        found: dict[str, str] = {
            row[0]: row[1]
            for row in self.conn.execute(self.st.types_of(long), {"k_org": self.org, **params})
        }
        missing += [i for i in ids if i not in found]
        if missing:
            listed = ", ".join(repr(i) for i in missing[:5])
            raise InvalidValue(
                f"Member value {listed} is not the id of a User or Group in this organization."
            )
        return found

    def _add(
        self, group_id: str, members: Sequence[Member], *, types: dict[str, str] | None = None
    ) -> None:
        """Insert membership rows; ones already present are left as they are.

        The ``display`` the client sent is kept (RFC 7643 8.7.1 makes it writable);
        without one, reads show the member's own displayName or userName.
        """
        # In id order: two transactions inserting overlapping members then wait for each
        # other in one order, never in opposite ones (a deadlock on PostgreSQL).
        unique = sorted({m.value: m for m in members}.values(), key=lambda m: m.value)
        if not unique:
            return
        if any(m.display is not None and not storable(m.display) for m in unique):
            # Membership rows are not part of the document _row checks.
            raise InvalidValue(
                "A member's display has a NUL character (U+0000) or a lone surrogate, "
                "which cannot be stored; remove it."
            )
        if types is None:
            types = self._check_members([m.value for m in unique])
        rows = [
            {
                "organization_id": self.org,
                "group_id": group_id,
                "member_id": m.value,
                "member_type": types[m.value],
                "display": m.display,
            }
            for m in unique
        ]
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        try:
            self.conn.execute(insert(group_members).on_conflict_do_nothing(), rows)
        except sa.exc.IntegrityError as exc:  # the group or a member deleted meanwhile
            if GROUP_KEY_CONSTRAINT in str(exc.orig):
                raise NotFound(f"Group '{group_id}' not found.") from exc
            raise InvalidValue("A member was deleted while it was being added.") from exc

    def _write_emails(
        self, resource_type: str, id: str, resource: Resource, *, replace: bool
    ) -> None:
        if resource_type != "User":
            return
        keys = email_keys(resource)
        if replace and self._emails.get((resource_type, id)) == keys:
            return  # the emails this session read are unchanged
        if replace:
            self.conn.execute(self.st.delete_emails, {"k_org": self.org, "k_id": id})
        if keys:
            self.conn.execute(
                self.st.insert_emails,
                [{"organization_id": self.org, "resource_id": id, "value_key": k} for k in keys],
            )
        self._emails[(resource_type, id)] = keys

    def _undoable(self) -> AbstractContextManager[Any]:
        """A SAVEPOINT around a write of several statements, unless a refusal ends the
        whole transaction anyway (``all_or_nothing``)."""
        return self.conn.begin_nested() if self._undo_each_write else nullcontext()

    def _remember_user(self, id: str, data: Any) -> None:
        """What a locked user's next update compares with: its email and name keys."""
        self._emails[("User", id)] = email_keys(data)
        attr = self.names.get("User")
        name = data.get(attr) if attr else None
        self._name_keys[("User", id)] = name.lower() if isinstance(name, str) else None

    @contextmanager
    def _write(
        self, resource_type: str, row: dict[str, Any], *, keeps_unique_keys: bool = False
    ) -> Iterator[None]:
        """One write, undone if it fails; a unique violation becomes :class:`Uniqueness`
        naming the value.

        A savepoint undoes it and keeps the transaction usable. SQLite needs none when
        only the write's first statement can fail, as for anything but a group (a
        user's email rows cannot conflict): SQLite undoes a failed statement by itself
        and the transaction stays open. PostgreSQL aborts the whole transaction on any
        error, and a group's members are checked after its row is written, so those
        keep the savepoint; an update of a user that keeps its name key needs none there
        either: it changes no unique key, and ``_row`` has refused the one value the
        database would (a NUL character). That saves PostgreSQL two round trips on the
        PATCH of ``active`` Okta sends to deactivate a user. No write needs one in an
        ``all_or_nothing`` session, which a refusal ends.
        """
        needs_none = resource_type != "Group" and (self.dialect == "sqlite" or keeps_unique_keys)
        undo = nullcontext() if needs_none else self._undoable()
        try:
            with undo:
                yield
        except sa.exc.IntegrityError as exc:
            text = str(exc.orig)
            if "name_key" in text:
                attr = self.names.get(resource_type)
                raise Uniqueness(
                    f"{attr} '{row['name']}' is already taken in this organization."
                ) from exc
            if "pk_resources" in text or "resources.id" in text:
                raise Uniqueness(f"id '{row['id']}' is already taken.") from exc
            if "organization" in text:
                raise NotFound(f"Organization '{self.org}' does not exist.") from exc
            raise InvalidValue(f"The {resource_type} could not be stored: {text}") from exc
        except sa.exc.DataError as exc:
            raise InvalidValue(f"The {resource_type} has a value the database rejects.") from exc

    def _fill_members(self, found: list[Resource]) -> None:
        """``members`` of a page of groups: one query, no N+1. (Any other resource's
        ``groups`` come with its row: :attr:`.statements.Statements.user_groups`.)"""
        if not found:
            return
        long, params = ids_params(self.dialect, [res["id"] for res in found])
        params["k_org"] = self.org
        lists: dict[str, list[dict[str, Any]]] = {}
        for row in self.conn.execute(self.st.members_of(long), params):
            gid, value, type_, given, display, name = cells(row, 6)
            lists.setdefault(gid, []).append(
                {"value": value, "type": type_, "display": given or display or name}
            )
        for res in found:
            res.pop("members", None)
            res.pop("groups", None)
            entries = lists.get(res["id"])
            if entries:
                res["members"] = sorted(entries, key=lambda m: str(m["value"]))


class SqlStore:
    """A :class:`~scimcore.storage.base.Store` on an engine from :func:`.engine.make_engine`.

    The schema must exist (:func:`scimcore.storage.migrate.upgrade`).
    """

    def __init__(
        self,
        engine: Engine,
        resource_types: Sequence[ResourceType] = (USER_RESOURCE, GROUP_RESOURCE),
    ) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.names = unique_names(resource_types)
        self._token_read = DriverRead(
            engine, statements(engine.dialect.name).active_token, {"k_hash": ""}
        )
        created = organizations.c.created.type.dialect_impl(engine.dialect)
        self._created = created.result_processor(engine.dialect, None)

    def _begin(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        return transaction(self.engine, write=write)

    @contextmanager
    def session(
        self, organization_id: str, *, readonly: bool = False, all_or_nothing: bool = False
    ) -> Iterator[SqlSession]:
        """One transaction; ``readonly`` ones (GET, lists) never wait for a writer, and
        ``all_or_nothing`` ones (a SCIM request) write without SAVEPOINTs."""
        with transaction(self.engine, write=not readonly) as conn:
            yield SqlSession(
                conn, organization_id, self.names, readonly=readonly, all_or_nothing=all_or_nothing
            )

    # -- organizations ------------------------------------------------------------------

    def create_organization(self, slug: str, name: str, profile: str = "auto") -> Organization:
        org = Organization(
            id=str(uuid.uuid4()),
            slug=slug,
            name=name,
            created=_now(),
            profile=canonical_profile_name(profile),
        )
        try:
            with self._begin() as conn:
                conn.execute(
                    sa.insert(organizations).values(
                        id=org.id, slug=slug, name=name, created=org.created, profile=org.profile
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Uniqueness(f"Organization slug '{slug}' is already taken.") from exc
        return org

    def set_organization_profile(self, organization_id: str, profile: str) -> Organization:
        profile = canonical_profile_name(profile)
        with self._begin() as conn:
            row = conn.execute(
                sa.update(organizations)
                .where(organizations.c.id == organization_id)
                .values(profile=profile)
                .returning(*organizations.c)
            ).first()
        if row is None:
            raise NotFound(f"Organization '{organization_id}' does not exist.")
        return _org(row)

    def get_organization(self, slug: str) -> Organization | None:
        if "\x00" in slug or not is_unicode(slug):
            # No slug holds these (a JWT's claim may), and the drivers refuse them.
            return None
        with self._begin(write=False) as conn:
            row = conn.execute(sa.select(organizations).where(organizations.c.slug == slug)).first()
        return _org(row) if row is not None else None

    def list_organizations(self) -> list[Organization]:
        with self._begin(write=False) as conn:
            rows = conn.execute(sa.select(organizations).order_by(organizations.c.slug)).all()
        return [_org(row) for row in rows]

    # -- tokens -------------------------------------------------------------------------

    def set_token(self, organization_id: str, token_hash: str, prefix: str) -> TokenInfo:
        t = scim_tokens.c
        now = _now()
        try:
            with self._begin() as conn:
                # Lock the organization (the UPDATE does): concurrent rotations queue here
                # instead of both superseding the same old token and colliding on the new
                # ones. A token given out is one that works: SCIM access goes on.
                locked = conn.execute(
                    sa.update(organizations)
                    .where(organizations.c.id == organization_id)
                    .values(scim_disabled_at=None)
                    .returning(organizations.c.id)
                ).first()
                if locked is None:
                    raise NotFound(f"Organization '{organization_id}' does not exist.")
                conn.execute(
                    sa.update(scim_tokens)
                    .where(t.organization_id == organization_id, t.status == "active")
                    .values(status="superseded", revoked_at=now)
                )
                conn.execute(
                    sa.insert(scim_tokens).values(
                        id=str(uuid.uuid4()),
                        organization_id=organization_id,
                        token_hash=token_hash,
                        prefix=prefix,
                        status="active",
                        created=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Uniqueness("This token is already in use.") from exc
        return TokenInfo(organization_id, prefix, "active", now)

    def revoke_token(self, organization_id: str) -> bool:
        t = scim_tokens.c
        now = _now()
        with self._begin() as conn:
            done = conn.execute(
                sa.update(scim_tokens)
                .where(t.organization_id == organization_id, t.status == "active")
                .values(status="revoked", revoked_at=now)
            )
            self._turn_off(conn, organization_id, now)
            return bool(done.rowcount)

    def set_scim_access(self, organization_id: str, enabled: bool) -> Organization:
        o = organizations.c
        with self._begin() as conn:
            if enabled:
                conn.execute(
                    sa.update(organizations)
                    .where(o.id == organization_id)
                    .values(scim_disabled_at=None)
                )
            else:
                self._turn_off(conn, organization_id, _now())
            row = conn.execute(sa.select(organizations).where(o.id == organization_id)).first()
        if row is None:
            raise NotFound(f"Organization '{organization_id}' does not exist.")
        return _org(row)

    @staticmethod
    def _turn_off(conn: Connection, organization_id: str, now: datetime) -> None:
        o = organizations.c
        conn.execute(
            sa.update(organizations)
            .where(o.id == organization_id, o.scim_disabled_at.is_(None))
            .values(scim_disabled_at=now)
        )

    def token_info(self, organization_id: str) -> TokenInfo | None:
        """The active token, else the most recent one (so "revoked" can be shown)."""
        t = scim_tokens.c
        with self._begin(write=False) as conn:
            row = conn.execute(
                sa.select(t.organization_id, t.prefix, t.status, t.created, t.last_used)
                .where(t.organization_id == organization_id)
                .order_by(sa.case((t.status == "active", 0), else_=1), t.created.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return TokenInfo(row[0], row[1], row[2], row[3], row[4])

    def find_active_token(self, token_hash: str) -> Organization | None:
        """The organization whose active token has this hash. Every request asks, so
        the lookup goes to the driver directly (:class:`.engine.DriverRead`)."""
        row = self._token_read.first(k_hash=token_hash)
        if row is DriverRead.FAILED:  # a broken pooled connection: the usual way
            with single_read(self.engine) as conn:
                found = conn.execute(self._token_read.statement, {"k_hash": token_hash}).first()
            return _org(found) if found is not None else None
        if row is None:
            return None
        if self._created is not None:  # the column type's own conversion (SQLite: text)
            row["created"] = self._created(row["created"])
        return _org_of(row)

    def mark_token_used(self, token_hash: str, at: datetime) -> None:
        t = scim_tokens.c
        with self._begin() as conn:
            conn.execute(
                sa.update(scim_tokens)
                .where(
                    t.token_hash == token_hash,
                    sa.or_(t.last_used.is_(None), t.last_used < at - TOKEN_USE_RESOLUTION),
                )
                .values(last_used=at)
            )


def _org(row: Row[Any]) -> Organization:
    return _org_of(row._mapping)


def _org_of(m: Mapping[Any, Any]) -> Organization:
    return Organization(
        id=m["id"],
        slug=m["slug"],
        name=m["name"],
        created=m["created"],
        profile=m["profile"] or DEFAULT_PROFILE,
        scim_disabled_at=m.get("scim_disabled_at"),
    )
