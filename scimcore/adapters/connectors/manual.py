"""``manual``: services with no API (custom apps). Records only.

Every lifecycle call succeeds at once without contacting anything; the engine records
the outcome on the service account and in the event log, which is the admin's to-do
list ("deactivate hanako's account in the in-house wiki"). Nothing is discovered.
"""

from __future__ import annotations

from typing import ClassVar

from ...provisioning.connector import (
    LIFECYCLE,
    AccountRef,
    AccountSpec,
    AuthMethod,
    Capability,
    ConnectionCheck,
    ConnectorContext,
    NoRemoteListing,
    RemoteAccount,
)


class ManualConnector(NoRemoteListing):
    name: ClassVar[str] = "manual"
    display_name: ClassVar[str] = "Manual (records only)"
    capabilities: ClassVar[Capability] = LIFECYCLE
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset({"none"})
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "login"
    address_setting: ClassVar[str | None] = None

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        return ConnectionCheck(True, "manual integration: nothing to connect to")

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        return _recorded(spec.account_id, spec)

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        return _recorded(ref.remote_id or desired.account_id, desired)

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return _ref_account(ref, "suspended")

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return _ref_account(ref, "active")

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        return None


def _recorded(remote_id: str, spec: AccountSpec) -> RemoteAccount:
    return RemoteAccount(
        remote_id=remote_id,
        login=spec.account_id,
        email=spec.email,
        display_name=spec.display_name,
        given_name=spec.given_name,
        family_name=spec.family_name,
        external_id=spec.external_id,
        status="active" if spec.active else "suspended",
    )


def _ref_account(ref: AccountRef, status: str) -> RemoteAccount:
    login = ref.account_id or ref.remote_id or ""
    return RemoteAccount(
        remote_id=ref.remote_id or login,
        login=login,
        status="active" if status == "active" else "suspended",
    )
