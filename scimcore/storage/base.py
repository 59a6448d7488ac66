"""The storage protocol every backend implements, and the values crossing it.

The service talks to storage only through :class:`Store` and :class:`StoreSession`.
Rules every implementation follows (``scimcore.testing.StorageContract`` checks them):

* A :class:`StoreSession` is one transaction scoped to one organization: every read
  and write inside it sees only that organization's resources, and leaving the
  ``with`` block commits, while an exception rolls everything back. Nothing is ever
  half-written.
* Resources cross the boundary as plain JSON-compatible dicts in canonical form
  (canonical attribute names; ``id``, ``schemas`` and ``meta`` with ``resourceType``,
  ``created``, ``lastModified`` and ``version``; never ``meta.location``, which
  depends on the public URL and is added by the service). Returned dicts are copies.
* Uniqueness (``userName`` of Users, ``displayName`` of Groups, both per organization
  and case-insensitive) is enforced by the backend itself (a unique index, not a
  read-then-write check) and reported as :class:`~scimcore.errors.Uniqueness`.
* Group members are stored apart from the group, so adding or removing one member
  never reads or rewrites the others. ``User.groups`` is computed from membership.
* A backend that cannot reach its database raises
  :class:`~scimcore.errors.ServiceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

from ..filters.nodes import Filter
from ..paths import ResolvedPath

Resource: TypeAlias = dict[str, Any]
TokenStatus: TypeAlias = Literal["active", "revoked", "superseded"]


@dataclass(frozen=True)
class Organization:
    """A tenant: its own URL, its own resources, one active token.

    ``profile`` names the IdP profile whose quirks the service tolerates for this
    organization (:func:`scimcore.compat.get_profile`; ``auto`` by default).
    ``scim_disabled_at`` is when its SCIM access was turned off (no bearer token works,
    secret or JWT); None while it is on.
    """

    id: str
    slug: str
    name: str
    created: datetime
    profile: str = "auto"
    scim_disabled_at: datetime | None = None

    @property
    def scim_enabled(self) -> bool:
        return self.scim_disabled_at is None


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about an organization's token: never the secret or its hash."""

    organization_id: str
    prefix: str
    status: TokenStatus
    created: datetime
    last_used: datetime | None = None


@dataclass(frozen=True)
class Member:
    """One group member: the member's id and its resource type (``User`` or ``Group``)."""

    value: str
    type: str = "User"
    display: str | None = None


@dataclass(frozen=True)
class Sort:
    path: ResolvedPath
    descending: bool = False


@dataclass(frozen=True)
class Keyset:
    """A position in a sorted listing: the sort key of a row (``None`` when it has
    none, or when the listing is unsorted) and its ``id``, the final tiebreak."""

    key: Any
    id: str


@dataclass(frozen=True)
class Query:
    """A list request (RFC 7644 3.4.2) in storage terms.

    ``start_index`` is 1-based. ``count`` of 0 asks for the total only.
    ``relations`` asks for ``members`` (Groups) or ``groups`` (Users) to be filled
    in; the service turns it off when the client's projection excludes them, so a
    group with 100,000 members can be listed without loading them.

    ``keyset`` pages by position instead of by index (RFC 9865 cursors): the page
    starts right after ``after`` (or at the beginning), ``start_index`` is ignored,
    and the returned :class:`Page` carries ``next`` when more rows follow. Rows are
    ordered by the sort key (absent values last ascending, first descending), then
    by ``id``; a row inserted behind the position never shifts later pages.

    ``total_limit`` lets a filtered query stop counting: ``Page.total`` is then at
    most ``total_limit`` (the admin console shows "more than 10,000" rather than
    counting a million matches). It applies to keyset pages and to first pages (an
    index page further on needs the exact total), never to an unfiltered query, whose
    total is the size of the collection.
    """

    filter: Filter | None = None
    sort: Sort | None = None
    start_index: int = 1
    count: int = 100
    relations: bool = True
    keyset: bool = False
    after: Keyset | None = None
    total_limit: int | None = None


@dataclass(frozen=True)
class Page:
    total: int
    resources: list[Resource] = field(default_factory=list)
    next: Keyset | None = None


def comes_after(key: Any, id: str, position: Keyset, sort: Sort | None) -> bool:
    """Whether a row with sort ``key`` and ``id`` follows ``position`` in listing order.

    The reference definition of keyset order; the SQL store expresses the same
    predicate in SQL.
    """
    if sort is None:
        return id > position.id
    if sort.descending:
        if position.key is None:
            return key is not None or id > position.id
        return key is not None and (
            bool(key < position.key) or (key == position.key and id > position.id)
        )
    if position.key is None:
        return key is None and id > position.id
    return key is None or bool(key > position.key) or (key == position.key and id > position.id)


class StoreSession(Protocol):
    """One transaction within one organization."""

    def get(
        self, resource_type: str, id: str, *, relations: bool = True, for_update: bool = False
    ) -> Resource:
        """The resource, or :class:`~scimcore.errors.NotFound`. ``for_update`` locks it."""
        ...

    def insert(self, resource_type: str, resource: Resource) -> None:
        """Store a new resource (with its ``members`` for a Group)."""
        ...

    def update(
        self, resource_type: str, resource: Resource, *, expected_version: str | None = None
    ) -> None:
        """Overwrite everything but ``members`` (see the member methods) and ``groups``.

        With ``expected_version`` the write only happens if the stored
        ``meta.version`` still equals it; otherwise
        :class:`~scimcore.errors.PreconditionFailed`.
        """
        ...

    def delete(self, resource_type: str, id: str) -> None:
        """Remove the resource and its memberships, or :class:`~scimcore.errors.NotFound`."""
        ...

    def query(self, resource_type: str, query: Query) -> Page: ...

    def add_members(self, group_id: str, members: Sequence[Member]) -> None:
        """Add members; ones already present are left as they are.

        A value that is not the id of a User or Group of this organization raises
        :class:`~scimcore.errors.InvalidValue`.
        """
        ...

    def remove_members(self, group_id: str, values: Sequence[str]) -> None:
        """Remove the members with these ids; absent ones are ignored."""
        ...

    def replace_members(self, group_id: str, members: Sequence[Member]) -> None: ...


class Store(Protocol):
    """A storage backend: resources per organization, organizations and their tokens."""

    def session(
        self, organization_id: str, *, readonly: bool = False, all_or_nothing: bool = False
    ) -> AbstractContextManager[StoreSession]:
        """One transaction in one organization: everything in it is kept or nothing is.

        ``readonly`` promises the block only reads (GET, lists, searches), which lets a
        store skip what writes need (SQLite's write lock, a copy to roll back to).

        By default a refused write (a taken ``userName``, an unknown member) is undone
        alone and the session goes on. ``all_or_nothing`` promises the caller lets the
        refusal's error leave the block, so the whole transaction is rolled back and
        nothing runs in it after the refusal, as for one SCIM request. A store may then
        skip what undoing one write needs (a SAVEPOINT per write on PostgreSQL).
        """
        ...

    def create_organization(self, slug: str, name: str, profile: str = "auto") -> Organization:
        """Create a tenant; a taken slug raises :class:`~scimcore.errors.Uniqueness`.

        ``profile`` is checked and stored as :meth:`set_organization_profile` does.
        """
        ...

    def get_organization(self, slug: str) -> Organization | None: ...

    def list_organizations(self) -> list[Organization]: ...

    def set_organization_profile(self, organization_id: str, profile: str) -> Organization:
        """Select the organization's IdP profile (:mod:`scimcore.compat`).

        The name is checked and spelled canonically by
        :func:`scimcore.compat.canonical_profile_name` (unknown:
        :class:`~scimcore.errors.InvalidValue`), so ``okta`` follows the latest
        version and ``okta@1`` stays pinned. An unknown organization raises
        :class:`~scimcore.errors.NotFound`. Returns the updated organization.
        """
        ...

    def set_token(self, organization_id: str, token_hash: str, prefix: str) -> TokenInfo:
        """Make this the organization's only active token, superseding the previous one
        in the same transaction (at most one active token, enforced by the database),
        and turn the organization's SCIM access on (:meth:`set_scim_access`): a token
        given out is one that works."""
        ...

    def revoke_token(self, organization_id: str) -> bool:
        """Revoke the active token and, in the same transaction, turn the
        organization's SCIM access off, so no token works afterwards, JWTs included.
        False when there was no active token (access is off all the same)."""
        ...

    def set_scim_access(self, organization_id: str, enabled: bool) -> Organization:
        """Turn the organization's SCIM access on or off. While it is off no bearer
        token of the organization works, secret or JWT (:meth:`find_active_token` finds
        none; :attr:`Organization.scim_enabled` is False), from the next request on,
        in every process. Turning it off again keeps the first time it was turned off.
        An unknown organization raises :class:`~scimcore.errors.NotFound`."""
        ...

    def token_info(self, organization_id: str) -> TokenInfo | None: ...

    def find_active_token(self, token_hash: str) -> Organization | None:
        """The organization whose active token has this hash, if any and if its SCIM
        access is on."""
        ...

    def mark_token_used(self, token_hash: str, at: datetime) -> None:
        """Record a use; implementations may skip writes closer than a minute apart."""
        ...
