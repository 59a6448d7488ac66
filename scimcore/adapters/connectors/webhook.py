"""``webhook``: every account change as a signed JSON event POSTed to a URL.

Settings: ``url``. Auth: an HMAC secret (``hmac_secret``): each request carries
``X-Scimserver-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
(see :func:`.auth.verify_signature`) and ``Idempotency-Key``, the same on every retry
of the same change, so a receiver can drop duplicates. Any 2xx answer is success; the
engine retries the rest. Nothing is discovered.

Body::

    {"id": "<idempotency key>", "type": "account.deactivated", "sent_at": "...",
     "organization_id": "...", "integration_id": 3,
     "account": {"account_id": "...", "remote_id": "...", "email": "...", "active": false, ...}}

Passwords and other secrets are never part of an event.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, ClassVar

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
from ...provisioning.errors import ConnectorError, PermanentError
from .http import raise_for_status, send


class WebhookConnector(NoRemoteListing):
    name: ClassVar[str] = "webhook"
    display_name: ClassVar[str] = "Webhook (signed JSON events)"
    capabilities: ClassVar[Capability] = LIFECYCLE
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset({"hmac_secret"})
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "login"
    address_setting: ClassVar[str | None] = "url"

    def _post(self, ctx: ConnectorContext, type: str, account: dict[str, Any], key: str) -> None:
        url = ctx.settings.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PermanentError("the webhook connector needs a url setting (http or https)")
        event = {
            "id": key,
            "type": type,
            "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "organization_id": ctx.organization_id,
            "integration_id": ctx.integration_id,
            "account": {k: v for k, v in account.items() if k != "extras"},
        }
        resp = send(
            "POST",
            url,
            auth=ctx.auth,
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            json_body=event,
            headers={"Idempotency-Key": key},
        )
        raise_for_status(resp, f"delivering {type}")

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            self._post(ctx, "ping", {}, "ping")
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        return ConnectionCheck(True, "the receiver accepted a ping")

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        self._post(ctx, "account.created", asdict(spec), idempotency_key)
        return _account(spec.account_id, spec)

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        self._post(
            ctx, "account.updated", {**asdict(desired), "remote_id": ref.remote_id}, idempotency_key
        )
        return _account(ref.remote_id or desired.account_id, desired)

    def _lifecycle(self, ctx: ConnectorContext, ref: AccountRef, type: str, key: str) -> None:
        self._post(ctx, type, {"account_id": ref.account_id, "remote_id": ref.remote_id}, key)

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        self._lifecycle(ctx, ref, "account.deactivated", idempotency_key)
        login = ref.account_id or ref.remote_id or ""
        return RemoteAccount(remote_id=ref.remote_id or login, login=login, status="suspended")

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        self._lifecycle(ctx, ref, "account.reactivated", idempotency_key)
        login = ref.account_id or ref.remote_id or ""
        return RemoteAccount(remote_id=ref.remote_id or login, login=login)

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        self._lifecycle(ctx, ref, "account.deleted", idempotency_key)


def _account(remote_id: str, spec: AccountSpec) -> RemoteAccount:
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
