"""The benchmark data set and the three ways of loading it (ours, ceiling, scim2-server).

The same users (same ids, same attributes) go into every server:

* ``N`` users ``bench.user0000000@example.com`` ... with name, displayName, one work
  email and ``active``;
* one **big group** whose members are the first ``min(N, 100_000)`` users;
* one **small group** with 10 members;
* ``SPARES`` extra users that belong to no group: the membership workloads add and
  remove them, so each request changes exactly one row each way.

Our service is seeded with the rows ``ScimService.create`` would write (see
:func:`seed_ours`; ``SqlSession.insert`` costs ~3 ms a user, too slow for 1M).
The harness then reads a seeded user back over HTTP and compares it
with one created by POST (see ``run.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
BIG_GROUP_CAP = 100_000
SMALL_GROUP = 10
SPARES = 1_000
BATCH = 5_000


def user_name(i: int) -> str:
    return f"bench.user{i:07d}@example.com"


def user_body(i: int, name: str | None = None) -> dict[str, Any]:
    name = name or user_name(i)
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "displayName": f"Bench User {i}",
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


@dataclass
class DataSet:
    users: int
    ids: list[str]  # users first, then spares
    big_group: str
    small_group: str

    @classmethod
    def make(cls, users: int) -> DataSet:
        ns = uuid.UUID("6f1c2a8e-0000-4000-8000-000000000000")
        ids = [str(uuid.uuid5(ns, str(i))) for i in range(users + SPARES)]
        return cls(users, ids, str(uuid.uuid5(ns, "big")), str(uuid.uuid5(ns, "small")))

    @property
    def big_members(self) -> list[str]:
        return self.ids[: min(self.users, BIG_GROUP_CAP)]

    @property
    def small_members(self) -> list[str]:
        return self.ids[:SMALL_GROUP]

    @property
    def spares(self) -> list[str]:
        return self.ids[self.users :]

    def all_users(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for i, id in enumerate(self.ids):
            yield id, user_body(i)

    def write_id_file(self, path: str) -> None:
        """``id<TAB>userName`` per seeded (non-spare) user, for the wrk scripts."""
        with open(path, "w") as f:
            for i in range(self.users):
                f.write(f"{self.ids[i]}\t{user_name(i)}\n")

    def write_spare_file(self, path: str) -> None:
        with open(path, "w") as f:
            f.write("\n".join(self.spares) + "\n")


def _batches(items: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- our service -------------------------------------------------------------------


def _reorder(template: Any, value: Any) -> Any:
    """``value`` with its keys in ``template``'s order (same keys required)."""
    if isinstance(template, dict):
        assert isinstance(value, dict) and value.keys() == template.keys(), (template, value)
        return {k: _reorder(template[k], value[k]) for k in template}
    if isinstance(template, list):
        return [_reorder(template[0], v) for v in value]
    return value


def seed_ours(database_url: str, org_slug: str, ds: DataSet) -> dict[str, Any]:
    """Rows exactly as ``ScimService.create`` + ``SqlSession.insert`` write them, in bulk.

    * The resource: ``load_resource`` (the POST validation) canonicalises user 0; every
      other user is built in the same canonical form (checked against
      ``load_resource`` for every 1,000th user), then gets ``id`` and ``meta`` exactly as
      ``create`` sets them.
    * The rows: the first spare user is written through the public
      ``SqlSession.insert``; all the others become rows through the same ``_row``
      function ``insert`` uses and are inserted with one ``executemany`` per 5,000
      users. The two kinds of row are then compared column by column.
    """
    import inspect

    import sqlalchemy as sa

    from scimcore.schema.core import GROUP_RESOURCE, USER_RESOURCE
    from scimcore.schema.serializers import load_resource
    from scimcore.storage.sql import SqlStore, make_engine
    from scimcore.storage.sql import store as sql_store

    try:  # the row helpers and the clock moved (resource_rows.py, writes.py)
        from scimcore.storage.sql import resource_rows
        from scimcore.writes import _now

        make_row, email_keys = resource_rows.row_values, resource_rows.email_keys
    except ImportError:  # an older checkout, measured for comparison
        from scimcore.service import _now  # type: ignore[attr-defined,no-redef]

        make_row, email_keys = sql_store._row, sql_store._email_keys
    from scimcore.storage.sql.tables import group_members, resource_emails, resources

    try:
        from scimcore.versioning import first_version
    except ImportError:  # before ETags existed

        def first_version() -> str:
            return 'W/"1"'

    engine = make_engine(database_url)
    store = SqlStore(engine)
    org = store.get_organization(org_slug)
    assert org is not None, org_slug
    names = getattr(store, "names", None)
    takes_names = len(inspect.signature(make_row).parameters) > 2

    def row_of(rt: str, data: dict[str, Any]) -> dict[str, Any]:
        row = make_row(rt, data, names) if takes_names else make_row(rt, data)
        if isinstance(row, tuple):  # (columns, document as JSON) since the read-back cache
            row = row[0]
        return {"organization_id": org.id, "resource_type": rt, **row}

    def stamp(rt: Any, id: str, data: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        data["id"] = id
        data["meta"] = {
            "resourceType": rt.id,
            "created": now,
            "lastModified": now,
            "version": first_version(),
        }
        return data

    template = load_resource(USER_RESOURCE, user_body(0))
    first_spare = ds.spares[0]
    started = time.perf_counter()
    # A transaction per batch: on PostgreSQL every statement also updates the
    # organization's count row (revision 0013), and the versions of one row updated
    # over and over in one transaction make each update slower than the last.
    with engine.connect() as conn:
        for batch in _batches(enumerate(ds.ids)):
            rows, emails = [], []
            for i, id in batch:
                body = user_body(i)
                data = _reorder(template, body)
                if i % 1000 == 0:
                    assert json.dumps(data) == json.dumps(load_resource(USER_RESOURCE, body))
                data = stamp(USER_RESOURCE, id, data)
                if id == first_spare:
                    continue  # written through SqlSession.insert below
                rows.append(row_of("User", data))
                emails.extend(
                    {"organization_id": org.id, "resource_id": id, "value_key": k}
                    for k in email_keys(data)
                )
            if rows:
                conn.execute(sa.insert(resources), rows)
                conn.execute(sa.insert(resource_emails), emails)
            conn.commit()
        for gid, name, members in (
            (ds.big_group, "Big group", ds.big_members),
            (ds.small_group, "Small group", ds.small_members),
        ):
            body = {"schemas": [GROUP_SCHEMA], "displayName": name}
            data = stamp(GROUP_RESOURCE, gid, load_resource(GROUP_RESOURCE, body))
            conn.execute(sa.insert(resources), [row_of("Group", data)])
            for batch in _batches(iter(members)):
                conn.execute(
                    sa.insert(group_members),
                    [
                        {
                            "organization_id": org.id,
                            "group_id": gid,
                            "member_id": m,
                            "member_type": "User",
                            "display": None,
                        }
                        for m in batch
                    ],
                )
        conn.commit()
    i = len(ds.ids) - len(ds.spares)
    with store.session(org.id) as session:
        session.insert("User", stamp(USER_RESOURCE, first_spare,
                                     load_resource(USER_RESOURCE, user_body(i))))
    seconds = time.perf_counter() - started
    _compare_rows(engine, org.id, first_spare, ds.spares[1])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does to a freshly loaded table (PostgreSQL 13+ vacuums
            # after inserts too): statistics, and the visibility map that lets index-only
            # scans (COUNT, OFFSET pages) skip the heap. Same for every server.
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return _throughput(ds, seconds)


def _compare_rows(engine: Any, org_id: str, via_api: str, via_bulk: str) -> None:
    """The bulk row and the ``SqlSession.insert`` row have the same columns and shapes."""
    import sqlalchemy as sa

    from scimcore.storage.sql.tables import resource_emails, resources

    def shape(v: Any) -> Any:
        if isinstance(v, dict):
            return [(k, shape(x)) for k, x in v.items()]
        if isinstance(v, list):
            return [shape(x) for x in v]
        return type(v).__name__

    with engine.connect() as conn:
        a, b = (
            conn.execute(sa.select(resources).where(
                resources.c.organization_id == org_id, resources.c.id == id)).one()._asdict()
            for id in (via_api, via_bulk)
        )
        emails = [
            conn.execute(sa.select(sa.func.count()).select_from(resource_emails).where(
                resource_emails.c.resource_id == id)).scalar_one()
            for id in (via_api, via_bulk)
        ]
    assert shape(a) == shape(b), (a, b)
    assert emails[0] == emails[1] == 1, emails


# -- ceiling -----------------------------------------------------------------------


def seed_ceiling(database_url: str, ds: DataSet) -> dict[str, Any]:
    import ceiling_app as c
    import sqlalchemy as sa

    engine = c.make_engine(database_url)
    c.metadata.create_all(engine)
    started = time.perf_counter()
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    meta = {"created": now, "lastModified": now, "version": 'W/"1"'}
    with engine.begin() as conn:
        for batch in _batches(ds.all_users()):
            conn.execute(
                sa.insert(c.users),
                [
                    {
                        "id": id,
                        "user_name": body["userName"],
                        "data": {**body, "id": id, "meta": {"resourceType": "User", **meta}},
                    }
                    for id, body in batch
                ],
            )
        for gid, name, members in (
            (ds.big_group, "Big group", ds.big_members),
            (ds.small_group, "Small group", ds.small_members),
        ):
            data = {"schemas": [GROUP_SCHEMA], "id": gid, "displayName": name,
                    "meta": {"resourceType": "Group", **meta}}
            conn.execute(sa.insert(c.groups).values(id=gid, display_name=name, data=data))
            for batch in _batches(iter(members)):
                conn.execute(
                    sa.insert(c.members), [{"group_id": gid, "member_id": m} for m in batch]
                )
    seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # As for our service (seed_ours), and outside the timed load.
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return _throughput(ds, seconds)


# -- scim2-server --------------------------------------------------------------------


def write_peer_seed(path: str, ds: DataSet) -> None:
    """The seed file ``peer_app.py`` loads into the in-memory storage at start."""
    users = [{**body, "id": id} for id, body in ds.all_users()]
    groups = [
        {
            "schemas": [GROUP_SCHEMA],
            "id": gid,
            "displayName": name,
            "members": [{"value": m, "type": "User"} for m in members],
        }
        for gid, name, members in (
            (ds.big_group, "Big group", ds.big_members),
            (ds.small_group, "Small group", ds.small_members),
        )
    ]
    with open(path, "w") as f:
        json.dump({"users": users, "groups": groups}, f)


def _throughput(ds: DataSet, seconds: float) -> dict[str, Any]:
    n = len(ds.ids)
    return {"users": n, "seconds": round(seconds, 2), "users_per_s": round(n / seconds)}
