"""The statements every request runs, built once per dialect.

Building a SQLAlchemy expression (columns compared, an alias's column collection,
an ``IN`` list coerced) cost more than running the indexed lookup it describes: a
large share of a ``GET /Users/{id}`` on SQLite went to constructing its statements
(``benchmarks/sqlcount.py`` shows the time in SQL per request). These
are built once with bound parameters, so a request only binds values; SQLAlchemy's
compiled cache then serves the SQL text.

Parameter names start with ``k_`` where a statement also sets columns: SQLAlchemy
reserves a column's own name for the value it is set to.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from .tables import (
    group_members,
    organizations,
    resource_counts,
    resource_emails,
    resources,
    scim_tokens,
)

#: Id lists up to this long are bound as ``IN (?, ...)`` on SQLite (see :func:`id_in`).
SQLITE_IN_LIMIT = 500


def id_in(column: Any, dialect: str, *, long: bool = False) -> sa.ColumnElement[bool]:
    """``column IN :ids``, planned as index probes on both databases.

    PostgreSQL gets one array parameter (``= ANY``). SQLite gets a plain ``IN (?, ...)``
    (an expanding parameter) for up to ``SQLITE_IN_LIMIT`` values: its planner probes
    the index for a literal list, whereas for ``IN (SELECT ... json_each(?))`` it
    scanned the organization's whole index prefix, a cost linear in the organization's
    size. Longer lists (``long``) use json_each, one
    parameter, which SQLite's limit on parameters cannot break.
    """
    if dialect == "postgresql":
        matched: sa.ColumnElement[bool] = column == sa.any_(
            sa.bindparam("k_ids", type_=postgresql.ARRAY(sa.Text()))
        )
        return matched
    if not long:
        listed: sa.ColumnElement[bool] = column.in_(sa.bindparam("k_ids", expanding=True))
        return listed
    each = sa.func.json_each(sa.bindparam("k_ids_json", type_=sa.Text())).table_valued("value")
    contained: sa.ColumnElement[bool] = column.in_(sa.select(each.c.value))
    return contained


def ids_params(dialect: str, ids: list[str]) -> tuple[bool, dict[str, Any]]:
    """Whether ``ids`` needs the ``long`` form of :func:`id_in`, and its parameters."""
    if dialect != "postgresql" and len(ids) > SQLITE_IN_LIMIT:
        return True, {"k_ids_json": json.dumps(ids)}
    return False, {"k_ids": ids}


class Statements:
    """The hot statements of one dialect. Parameters: ``k_org`` (organization id),
    ``k_id`` and ``k_type`` (a resource), ``k_ids`` / ``k_ids_json`` (an id list)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        r = resources.c
        key = (
            r.organization_id == sa.bindparam("k_org"),
            r.id == sa.bindparam("k_id"),
            r.resource_type == sa.bindparam("k_type"),
        )
        self.get = sa.select(r.data).where(*key)
        # a collection: k_org and k_type
        self.collection = (
            r.organization_id == sa.bindparam("k_org"),
            r.resource_type == sa.bindparam("k_type"),
        )
        self.count = sa.select(sa.func.count()).select_from(resources).where(*self.collection)
        # The size of a whole collection, kept by triggers (tables.resource_counts).
        c = resource_counts.c
        self.size = sa.select(sa.func.coalesce(sa.func.sum(c.n), 0)).where(
            c.organization_id == sa.bindparam("k_org"),
            c.resource_type == sa.bindparam("k_type"),
        )
        self.user_groups = self._user_groups()
        self.get_with_groups = sa.select(r.data, self.user_groups).where(*key)
        # Row locks that do not block FOR KEY SHARE, the lock PostgreSQL takes on a
        # group row while a membership row referring to it is inserted: FOR UPDATE would
        # deadlock two member PATCHes that lock their group after adding members
        # (service._patch_membership). key_share=True renders FOR NO KEY UPDATE, the
        # lock an UPDATE of the row takes anyway.
        self.get_with_groups_for_update = self.get_with_groups.with_for_update(
            of=resources, key_share=True
        )
        self.get_for_update = self.get.with_for_update(of=resources, key_share=True)
        self.exists = sa.select(r.id).where(*key)
        self.delete = sa.delete(resources).where(*key)
        self.insert = sa.insert(resources)
        self.update = sa.update(resources).where(*key)
        self.update_if_version = self.update.where(r.version == sa.bindparam("k_version"))

        e = resource_emails.c
        self.delete_emails = sa.delete(resource_emails).where(
            e.organization_id == sa.bindparam("k_org"), e.resource_id == sa.bindparam("k_id")
        )
        self.insert_emails = sa.insert(resource_emails)

        t = scim_tokens.c
        self.active_token = (
            sa.select(organizations)
            .join(scim_tokens, t.organization_id == organizations.c.id)
            .where(
                t.token_hash == sa.bindparam("k_hash"),
                t.status == "active",
                # The organization's SCIM access switch, read in the same statement.
                organizations.c.scim_disabled_at.is_(None),
            )
        )

    def _user_groups(self) -> sa.Label[Any]:
        """A column for a User row: its groups as a JSON array of [group id, group name]
        (NULL or ``[]`` when it has none), read with the row by a correlated subquery
        that probes the member index: a GET or a page of users is one statement."""
        gm = group_members.c
        group = resources.alias("of_group")
        if self.dialect == "postgresql":
            groups = sa.func.json_agg(sa.func.json_build_array(gm.group_id, group.c.name))
        else:
            groups = sa.func.json_group_array(sa.func.json_array(gm.group_id, group.c.name))
        return (
            sa.select(groups)
            .select_from(
                group_members.join(
                    group,
                    sa.and_(
                        group.c.organization_id == gm.organization_id, group.c.id == gm.group_id
                    ),
                )
            )
            .where(
                gm.organization_id == resources.c.organization_id,
                gm.member_id == resources.c.id,
            )
            .scalar_subquery()
            .label("groups")
        )

    @cache  # noqa: B019 - one instance per dialect, kept for the process's life
    def members_of(self, long: bool) -> sa.Select[Any]:
        """Members of the groups ``k_ids``: (group, member, type, display given, the
        member's displayName, the member's unique name)."""
        gm = group_members.c
        member = resources.alias("member")
        return (
            sa.select(
                gm.group_id,
                gm.member_id,
                gm.member_type,
                gm.display,
                member.c.display_name,
                member.c.name,
            )
            .join_from(
                group_members,
                member,
                sa.and_(
                    member.c.organization_id == gm.organization_id, member.c.id == gm.member_id
                ),
            )
            .where(
                gm.organization_id == sa.bindparam("k_org"),
                id_in(gm.group_id, self.dialect, long=long),
            )
        )

    @cache  # noqa: B019
    def lookup(self, column: str, groups: bool) -> sa.Select[Any]:
        """Resources of the collection whose ``column`` equals ``k_value``, in id order,
        at most ``k_limit``; with ``groups``, each row's :attr:`user_groups`."""
        r = resources.c
        columns = [r.data, self.user_groups] if groups else [r.data]
        return (
            sa.select(*columns)
            .where(*self.collection, r[column] == sa.bindparam("k_value"))
            .order_by(r.id)
            .limit(sa.bindparam("k_limit"))
        )

    @cache  # noqa: B019
    def lookup_count(self, column: str) -> sa.Select[Any]:
        """How many resources of the collection have ``column`` equal to ``k_value``."""
        return self.count.where(resources.c[column] == sa.bindparam("k_value"))

    @cache  # noqa: B019
    def types_of(self, long: bool) -> sa.Select[Any]:
        """(id, resource type) of the resources ``k_ids``."""
        r = resources.c
        return sa.select(r.id, r.resource_type).where(
            r.organization_id == sa.bindparam("k_org"), id_in(r.id, self.dialect, long=long)
        )

    @cache  # noqa: B019
    def remove_members(self, long: bool, *, keep: bool = False) -> sa.Delete:
        """Delete the memberships of ``k_ids`` in the group ``k_group``; with ``keep``,
        all its other memberships instead (an empty ``k_ids`` then empties the group)."""
        gm = group_members.c
        listed = id_in(gm.member_id, self.dialect, long=long)
        return sa.delete(group_members).where(
            gm.organization_id == sa.bindparam("k_org"),
            gm.group_id == sa.bindparam("k_group"),
            sa.not_(listed) if keep else listed,
        )


@cache
def statements(dialect: str) -> Statements:
    """The statements for ``dialect`` ("sqlite" or "postgresql"), built on first use."""
    return Statements(dialect)
