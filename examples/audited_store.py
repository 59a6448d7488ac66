"""A custom store: wrap any scimcore store to publish provisioning events to your app.

Embedding applications usually need to *react* to provisioning: send a welcome mail
when Okta creates a user, revoke sessions when Entra deactivates one. Wrapping the
store is the seam for that: every write the SCIM service makes passes through
``StoreSession``, and the wrapper records an event once the transaction commits.
Events of a transaction that rolls back are dropped, so a listener never hears of a
change that did not happen.

It passes the storage contract shipped with scimcore (see tests/test_examples.py):

    class TestAuditedStore(StorageContract):
        @pytest.fixture
        def store(self):
            return AuditedStore(MemoryStore(), print)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimcore import Organization, Store, StoreSession, TokenInfo
from scimcore.storage.base import Member, Page, Query


@dataclass(frozen=True)
class Event:
    organization_id: str
    action: str  # created | updated | deleted | members_added | members_removed | members_replaced
    resource_type: str
    id: str


class _AuditedSession:
    def __init__(self, inner: StoreSession, org_id: str, pending: list[Event]) -> None:
        self._inner = inner
        self._org = org_id
        self._pending = pending

    def _record(self, action: str, resource_type: str, id: str) -> None:
        self._pending.append(Event(self._org, action, resource_type, id))

    def get(
        self, resource_type: str, id: str, *, relations: bool = True, for_update: bool = False
    ) -> dict[str, Any]:
        return self._inner.get(resource_type, id, relations=relations, for_update=for_update)

    def query(self, resource_type: str, query: Query) -> Page:
        return self._inner.query(resource_type, query)

    def insert(self, resource_type: str, resource: dict[str, Any]) -> None:
        self._inner.insert(resource_type, resource)
        self._record("created", resource_type, resource["id"])

    def update(
        self, resource_type: str, resource: dict[str, Any], *, expected_version: str | None = None
    ) -> None:
        self._inner.update(resource_type, resource, expected_version=expected_version)
        self._record("updated", resource_type, resource["id"])

    def delete(self, resource_type: str, id: str) -> None:
        self._inner.delete(resource_type, id)
        self._record("deleted", resource_type, id)

    def add_members(self, group_id: str, members: Sequence[Member]) -> None:
        self._inner.add_members(group_id, members)
        self._record("members_added", "Group", group_id)

    def remove_members(self, group_id: str, values: Sequence[str]) -> None:
        self._inner.remove_members(group_id, values)
        self._record("members_removed", "Group", group_id)

    def replace_members(self, group_id: str, members: Sequence[Member]) -> None:
        self._inner.replace_members(group_id, members)
        self._record("members_replaced", "Group", group_id)


class AuditedStore:
    """Delegates everything to ``inner``; calls ``listener`` with each committed event."""

    def __init__(self, inner: Store, listener: Callable[[Event], None]) -> None:
        self._inner = inner
        self._listener = listener

    @contextmanager
    def session(
        self, organization_id: str, *, readonly: bool = False, all_or_nothing: bool = False
    ) -> Iterator[StoreSession]:
        pending: list[Event] = []
        with self._inner.session(
            organization_id, readonly=readonly, all_or_nothing=all_or_nothing
        ) as inner:
            yield _AuditedSession(inner, organization_id, pending)
        for event in pending:  # reached only when the inner transaction committed
            self._listener(event)

    def create_organization(self, slug: str, name: str, profile: str = "auto") -> Organization:
        return self._inner.create_organization(slug, name, profile)

    def set_organization_profile(self, organization_id: str, profile: str) -> Organization:
        return self._inner.set_organization_profile(organization_id, profile)

    def get_organization(self, slug: str) -> Organization | None:
        return self._inner.get_organization(slug)

    def list_organizations(self) -> list[Organization]:
        return self._inner.list_organizations()

    def set_token(self, organization_id: str, token_hash: str, prefix: str) -> TokenInfo:
        return self._inner.set_token(organization_id, token_hash, prefix)

    def revoke_token(self, organization_id: str) -> bool:
        return self._inner.revoke_token(organization_id)

    def set_scim_access(self, organization_id: str, enabled: bool) -> Organization:
        return self._inner.set_scim_access(organization_id, enabled)

    def token_info(self, organization_id: str) -> TokenInfo | None:
        return self._inner.token_info(organization_id)

    def find_active_token(self, token_hash: str) -> Organization | None:
        return self._inner.find_active_token(token_hash)

    def mark_token_used(self, token_hash: str, at: datetime) -> None:
        self._inner.mark_token_used(token_hash, at)
