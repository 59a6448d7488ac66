"""Storage protocols of the credential vault and the OAuth flow, and an in-memory one.

The credential vault (``CredentialVault``, in the connectors' ``credentials`` module;
the core never imports it) only ever hands storage ciphertext and non-secret
parameters; these types say what a backend keeps. The SQL backend is
:mod:`scimcore.storage.sql.credentials`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, get_args

from ..errors import NotFound
from .models import IntegrationStatus

CredentialKind: TypeAlias = Literal[
    "api_key",
    "bearer",
    "basic",
    "id_password",
    "oauth_client_credentials",
    "oauth_authorization_code",
    "google_service_account",
]
CREDENTIAL_KINDS: tuple[CredentialKind, ...] = get_args(CredentialKind)


@dataclass(frozen=True)
class StoredCredential:
    """A credential row as storage holds it: public parameters and one ciphertext."""

    integration_id: int
    organization_id: str
    kind: CredentialKind
    public_params: Mapping[str, Any]
    secret_ciphertext: str = field(repr=False)
    key_id: str
    access_token_expires_at: datetime | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class NewCredential:
    """What :meth:`CredentialWriter.save` writes (storage fills ids and times)."""

    kind: CredentialKind
    public_params: Mapping[str, Any]
    secret_ciphertext: str = field(repr=False)
    key_id: str
    access_token_expires_at: datetime | None


class CredentialWriter(Protocol):
    """One integration's credential, locked until the ``with`` block ends."""

    @property
    def organization_id(self) -> str: ...

    @property
    def current(self) -> StoredCredential | None: ...

    def save(self, new: NewCredential, now: datetime) -> StoredCredential: ...


class CredentialStore(Protocol):
    """Where the vault keeps rows. Implementations: :class:`MemoryCredentialStore`,
    :class:`scimcore.storage.sql.credentials.SqlCredentialStore`.

    ``locked`` serializes writers of one integration (two workers refreshing the same
    OAuth token would otherwise both spend a single-use refresh token) and raises
    :class:`~scimcore.errors.NotFound` for an integration that does not exist.
    """

    def load(self, integration_id: int) -> StoredCredential | None: ...

    def locked(self, integration_id: int) -> AbstractContextManager[CredentialWriter]: ...

    def delete(self, integration_id: int) -> bool: ...

    def set_status(
        self,
        integration_id: int,
        status: IntegrationStatus,
        *,
        only_from: tuple[IntegrationStatus, ...] | None = None,
    ) -> bool: ...

    def status(self, integration_id: int) -> IntegrationStatus | None: ...


FlowPurpose: TypeAlias = Literal["ticket", "state"]
Spent: TypeAlias = Literal["ok", "unknown", "used", "expired"]


@dataclass(frozen=True)
class FlowRecord:
    """One stored step of an OAuth flow (a ticket or a state), as storage returns it."""

    purpose: FlowPurpose
    organization_id: str
    integration_id: int
    expires_at: datetime
    code_verifier_ciphertext: str | None = field(default=None, repr=False)
    browser_hash: str | None = None
    redirect_uri: str | None = None


class FlowStore(Protocol):
    """Where OAuth flow steps live, keyed by the SHA-256 of their random value."""

    def organization_of(self, integration_id: int) -> str | None: ...

    def add(self, id_hash: str, record: FlowRecord, now: datetime) -> None: ...

    def spend(
        self, id_hash: str, purpose: FlowPurpose, now: datetime
    ) -> tuple[Spent, FlowRecord | None]:
        """Mark the step used, atomically: only the first caller gets ``ok``."""
        ...

    def purge(self, before: datetime) -> int: ...


@dataclass
class _MemoryIntegration:
    organization_id: str
    status: IntegrationStatus = "active"
    credential: StoredCredential | None = None


class _MemoryWriter:
    def __init__(self, store: MemoryCredentialStore, integration_id: int) -> None:
        self._store = store
        self._id = integration_id

    @property
    def organization_id(self) -> str:
        return self._store._integrations[self._id].organization_id

    @property
    def current(self) -> StoredCredential | None:
        return self._store._integrations[self._id].credential

    def save(self, new: NewCredential, now: datetime) -> StoredCredential:
        entry = self._store._integrations[self._id]
        created = entry.credential.created if entry.credential else now
        entry.credential = StoredCredential(
            self._id,
            entry.organization_id,
            new.kind,
            json.loads(json.dumps(new.public_params)),
            new.secret_ciphertext,
            new.key_id,
            new.access_token_expires_at,
            created,
            now,
        )
        return entry.credential


class MemoryCredentialStore:
    """An in-process :class:`CredentialStore` and :class:`FlowStore` (tests, embedding)."""

    def __init__(self) -> None:
        self._integrations: dict[int, _MemoryIntegration] = {}
        self._flows: dict[str, tuple[FlowRecord, datetime | None]] = {}
        self._lock = threading.RLock()

    def add_integration(self, integration_id: int, organization_id: str) -> None:
        with self._lock:
            self._integrations[integration_id] = _MemoryIntegration(organization_id)

    def remove_integration(self, integration_id: int) -> None:
        """Like deleting the integration: its credential goes with it."""
        with self._lock:
            self._integrations.pop(integration_id, None)

    def load(self, integration_id: int) -> StoredCredential | None:
        with self._lock:
            entry = self._integrations.get(integration_id)
            return entry.credential if entry else None

    @contextmanager
    def locked(self, integration_id: int) -> Iterator[CredentialWriter]:
        with self._lock:
            if integration_id not in self._integrations:
                raise NotFound(f"integration {integration_id} does not exist")
            before = self._integrations[integration_id].credential
            try:
                yield _MemoryWriter(self, integration_id)
            except BaseException:
                self._integrations[integration_id].credential = before
                raise

    def delete(self, integration_id: int) -> bool:
        with self._lock:
            entry = self._integrations.get(integration_id)
            if entry is None or entry.credential is None:
                return False
            entry.credential = None
            return True

    def set_status(
        self,
        integration_id: int,
        status: IntegrationStatus,
        *,
        only_from: tuple[IntegrationStatus, ...] | None = None,
    ) -> bool:
        with self._lock:
            entry = self._integrations.get(integration_id)
            if entry is None or (only_from is not None and entry.status not in only_from):
                return False
            entry.status = status
            return True

    def status(self, integration_id: int) -> IntegrationStatus | None:
        with self._lock:
            entry = self._integrations.get(integration_id)
            return entry.status if entry else None

    # -- FlowStore ------------------------------------------------------------------

    def organization_of(self, integration_id: int) -> str | None:
        with self._lock:
            entry = self._integrations.get(integration_id)
            return entry.organization_id if entry else None

    def add(self, id_hash: str, record: FlowRecord, now: datetime) -> None:
        with self._lock:
            self._flows[id_hash] = (record, None)

    def spend(
        self, id_hash: str, purpose: FlowPurpose, now: datetime
    ) -> tuple[Spent, FlowRecord | None]:
        with self._lock:
            found = self._flows.get(id_hash)
            if found is None or found[0].purpose != purpose:
                return "unknown", None
            record, used = found
            if record.integration_id not in self._integrations:
                return "unknown", None
            if used is not None:
                return "used", record
            self._flows[id_hash] = (record, now)
            return ("expired" if record.expires_at <= now else "ok"), record

    def purge(self, before: datetime) -> int:
        with self._lock:
            old = [k for k, (r, _) in self._flows.items() if r.expires_at < before]
            for key in old:
                del self._flows[key]
            return len(old)
