"""Leavers' accounts: what the console's dashboard and ``scimserver accounts`` act on.

A *leaver's account* is a remote account that discovery last saw **active** and that
nobody should still have: ``retired`` (its owner is deactivated in the directory) or
``unknown`` (an orphan: linked to nobody, in one of the organization's domains; a
deleted person's account becomes one, since deleting the user deletes the link).

Two things can be done to one, and both the console and the CLI call these functions,
so the rules live here only:

* :func:`deprovision` queues one ``deprovision`` job for the worker, which deactivates
  or deletes the account as the integration's ``on_service_account_delete`` policy
  says, with the engine's retries, pacing and quarantine. Nothing calls the connector
  here. Pressing it again while that job is open queues nothing: the job's idempotency
  key is derived from the last deprovision job of the account, and the ``jobs`` table's
  unique constraint on the key lets only one of two concurrent presses in.
* :func:`mark_exception` keeps the account on purpose (a shared mailbox, a break-glass
  admin): a row with the reason, who and when (unique per account, so marking twice
  changes nothing) takes it off the list; :func:`clear_exception` puts it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from .connector import Capability, Connector
from .errors import ConnectorError
from .events import NewEvent
from .jobs import account_subject, idempotency_key
from .registry import load
from .store import Binding, ProvisioningStore

#: The classifications of a leaver's account (see :mod:`.discovery`).
LEAVER_CLASSES = ("retired", "unknown")
#: Integration statuses the dashboard counts as needing an administrator.
NEEDS_ATTENTION = ("needs_reauth", "sync_failed", "quarantined", "pending_auth")
#: Longest reason kept for an exception.
MAX_REASON = 500

Refusal: TypeAlias = Literal[
    "not_found",
    "not_a_leaver",
    "excepted",
    "policy_nothing",
    "unsupported",
    "reason_required",
]


class LeaverError(Exception):
    """An action refused, with a ``code`` the console maps to its words and the
    message the CLI prints."""

    def __init__(self, code: Refusal, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AccountState:
    """One service account as the actions need it."""

    id: int
    integration_id: int
    account_id: str
    user_id: str | None
    remote_id: str | None
    classification: str | None
    remote_status: str | None
    excepted: bool

    @property
    def is_leaver(self) -> bool:
        return self.classification in LEAVER_CLASSES and self.remote_status == "active"

    @property
    def subject(self) -> str:
        """Whom its jobs are about: the owner, or the account itself (an orphan)."""
        return self.user_id or account_subject(self.id)


@dataclass(frozen=True)
class QueuedJob:
    """What :meth:`LeaverStore.queue_deprovision` did: ``created`` False when a
    deprovision of the account was already open (the existing job's id)."""

    job_id: int
    created: bool


@dataclass(frozen=True)
class Deprovisioning:
    """The answer of :func:`deprovision`: the job, whether this call queued it, and
    what the worker will do (``deactivate_remote`` or ``delete_remote``)."""

    account: AccountState
    job_id: int
    queued: bool
    policy: str


class LeaverStore(Protocol):
    """Storage of the actions; ``scimcore.storage.sql.leavers.SqlLeavers`` on SQL."""

    def account(
        self, organization_id: str, integration_id: int, account_id: str
    ) -> AccountState | None: ...

    def queue_deprovision(
        self,
        organization_id: str,
        account: AccountState,
        key: Callable[[int], str],
        payload: Mapping[str, Any],
        event: NewEvent,
    ) -> QueuedJob:
        """In one transaction: the open deactivate/deprovision job of the account's
        subject in its integration if there is one, else a new ``deprovision`` job
        whose idempotency key is ``key(id of the subject's last deprovision job, or
        0)``, with ``event``. A concurrent twin losing on the key gets the winner's job."""
        ...

    def set_exception(
        self, organization_id: str, account: AccountState, reason: str, by: str, event: NewEvent
    ) -> bool:
        """Record the exception (False, and nothing written, when there is one)."""
        ...

    def clear_exception(self, organization_id: str, account: AccountState, event: NewEvent) -> bool:
        """Remove the exception (False when there was none)."""
        ...


def _event(type: str, account: AccountState, **extra: Any) -> NewEvent:
    """An event of the action in the outbox (source ``admin``: the console or the CLI)."""
    return NewEvent(
        type,
        "ServiceAccount",
        f"{account.integration_id}:{account.account_id}",
        {
            "integration_id": account.integration_id,
            "account_id": account.account_id,
            "user_id": account.user_id,
            "classification": account.classification,
            **extra,
        },
        "admin",
    )


def _find(
    store: LeaverStore, organization_id: str, integration_id: int, account_id: str
) -> AccountState:
    found = store.account(organization_id, integration_id, account_id)
    if found is None:
        raise LeaverError("not_found", f"no account {account_id!r} in that service")
    return found


def _required(policy: str) -> Capability:
    return Capability.DELETE if policy == "delete_remote" else Capability.DEACTIVATE


def deprovision(
    store: LeaverStore,
    provisioning: ProvisioningStore,
    organization_id: str,
    integration_id: int,
    account_id: str,
    *,
    actor: str,
    loader: Callable[[str], Connector] = load,
) -> Deprovisioning:
    """Queue the deprovisioning of a leaver's account (see the module docstring).

    Refused (:class:`LeaverError`) when the account is not a leaver's, is marked as an
    exception, the integration's policy is to leave accounts, or its connector cannot
    do what the policy says.
    """
    account = _find(store, organization_id, integration_id, account_id)
    if account.excepted:
        raise LeaverError("excepted", "the account is marked as an exception; undo that first")
    if not account.is_leaver:
        raise LeaverError(
            "not_a_leaver",
            "the account is not an active leaver's or orphan's account "
            f"(classification {account.classification}, remote status {account.remote_status})",
        )
    binding: Binding | None = provisioning.binding(organization_id, integration_id)
    if binding is None:  # pragma: no cover - the account's integration exists
        raise LeaverError("not_found", "the service does not exist")
    policy = binding.integration.settings.on_service_account_delete
    if policy == "nothing":
        raise LeaverError(
            "policy_nothing",
            "the service's policy is to leave accounts when people leave "
            "(on_service_account_delete=nothing)",
        )
    needed = _required(policy)
    try:
        capable = needed in loader(binding.connector).capabilities
    except ConnectorError:
        capable = False
    if not capable:
        raise LeaverError(
            "unsupported",
            f"the {binding.connector} connector cannot "
            f"{'delete' if needed == Capability.DELETE else 'deactivate'} accounts",
        )
    subject = account.subject
    payload = {
        "service_account_id": account.id,
        "account_id": account.account_id,
        "links": [
            {
                "integration_id": integration_id,
                "account_id": account.account_id,
                "remote_id": account.remote_id,
            }
        ],
        "requested_by": actor,
    }

    def key(previous: int) -> str:
        return idempotency_key(
            organization_id, integration_id, "deprovision", subject, f"leaver-after:{previous}"
        )

    event = _event("account.deprovision_requested", account, actor=actor, policy=policy)
    queued = store.queue_deprovision(organization_id, account, key, payload, event)
    return Deprovisioning(account, queued.job_id, queued.created, policy)


def mark_exception(
    store: LeaverStore,
    organization_id: str,
    integration_id: int,
    account_id: str,
    reason: str,
    *,
    actor: str,
) -> tuple[AccountState, bool]:
    """Keep the account on purpose; whether this call marked it (False: it was)."""
    text = " ".join(reason.split())[:MAX_REASON]
    if not text:
        raise LeaverError("reason_required", "say why the account is kept (a reason is required)")
    account = _find(store, organization_id, integration_id, account_id)
    if account.excepted:
        return account, False
    if not account.is_leaver:
        raise LeaverError(
            "not_a_leaver",
            "only an active leaver's or orphan's account can be kept as an exception "
            f"(classification {account.classification}, remote status {account.remote_status})",
        )
    event = _event("account.exception_marked", account, actor=actor, reason=text)
    return account, store.set_exception(organization_id, account, text, actor, event)


def clear_exception(
    store: LeaverStore,
    organization_id: str,
    integration_id: int,
    account_id: str,
    *,
    actor: str,
) -> tuple[AccountState, bool]:
    """Undo :func:`mark_exception`; whether there was an exception to undo."""
    account = _find(store, organization_id, integration_id, account_id)
    event = _event("account.exception_cleared", account, actor=actor)
    return account, store.clear_exception(organization_id, account, event)
