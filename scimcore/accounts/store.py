"""The storage protocol for integrations and service accounts.

Rules every implementation follows:

* An :class:`AccountSession` is one transaction in one organization; leaving the
  ``with`` block commits, an exception rolls everything back.
* :meth:`AccountSession.savepoint` nests a transaction: an exception inside it undoes
  only what was written inside it (the CSV importer isolates rows this way).
* Uniqueness is enforced by the backend itself (one account per (integration,
  accountId) and one per (integration, user); integration display names unique per
  organization) and reported as :class:`~scimcore.errors.Uniqueness`; a reference to
  a user or integration that no longer exists as :class:`~scimcore.errors.NotFound`.
* The service password only goes in, as ciphertext; it never comes back out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from ..provisioning.events import Source
from .models import (
    AccountListing,
    AccountValues,
    DeprovisionPolicy,
    Integration,
    IntegrationSettings,
    ServiceAccount,
    ServiceKind,
)


class AccountSession(Protocol):
    """One transaction over one organization's integrations and service accounts."""

    def integrations(self) -> list[Integration]:
        """Every integration of the organization, oldest first."""
        ...

    def create_integration(
        self,
        display_name: str,
        kind: ServiceKind,
        settings: IntegrationSettings,
        *,
        is_manual: bool = True,
    ) -> Integration:
        """A taken display name raises :class:`~scimcore.errors.Uniqueness`."""
        ...

    def update_integration(
        self,
        integration_id: int,
        *,
        display_name: str | None = None,
        license_profiles: Sequence[str] | None = None,
        on_service_account_delete: DeprovisionPolicy | None = None,
    ) -> Integration:
        """Change what is given. A taken name raises :class:`~scimcore.errors.Uniqueness`;
        dropping a license profile that accounts still hold raises
        :class:`~scimcore.errors.InvalidValue` (naming it and how many); a missing
        integration :class:`~scimcore.errors.NotFound`."""
        ...

    def delete_integration(self, integration_id: int) -> int:
        """Delete the integration with everything recorded about it (its accounts, jobs,
        connector, credential); returns how many accounts were forgotten. The accounts
        at the service are not touched."""
        ...

    def user_ids(self, user_names: Collection[str]) -> dict[str, str]:
        """The ids of the users with these ``userName`` values, keyed by lowered name."""
        ...

    def find_accounts(
        self,
        by_user: Collection[tuple[int, str]] = (),
        by_account: Collection[tuple[int, str]] = (),
    ) -> list[ServiceAccount]:
        """Accounts matching any (integration id, user id) or (integration id, accountId)."""
        ...

    def apply(
        self,
        deletes: Sequence[int] = (),
        updates: Sequence[tuple[int, AccountValues]] = (),
        inserts: Sequence[AccountValues] = (),
        *,
        source: Source = "csv",
    ) -> None:
        """Delete, then update, then insert accounts, each as one set-based statement.

        A store that keeps an outbox records one provisioning event per change in the
        same transaction (``account.unlinked``, ``account.updated``, ``account.linked``;
        payload :data:`~scimcore.provisioning.events.ACCOUNT_EVENT_KEYS`, ``method`` and
        event source ``source``), so no caller can write a change without its event.
        """
        ...

    def savepoint(self) -> AbstractContextManager[None]: ...

    def iter_accounts(self) -> Iterator[AccountListing]:
        """Every account in link order (oldest first), streamed: memory stays flat."""
        ...


class AccountStore(Protocol):
    """A backend for integrations and service accounts."""

    def accounts(
        self, organization_id: str, *, readonly: bool = False
    ) -> AbstractContextManager[AccountSession]:
        """A transaction; ``readonly`` promises no writes (exports need no write lock)."""
        ...
