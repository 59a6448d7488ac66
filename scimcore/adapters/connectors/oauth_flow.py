"""The OAuth "Integrate" flow (docs/connectors.md): one-time link -> provider -> callback -> tokens.

1. An admin gets a **ticket**: a one-time link (``scimserver integrations oauth-link``)
   valid for :data:`TICKET_TTL`. Until the admin UI has its own sign-in, holding this
   link is what authorizes starting the flow.
2. ``start`` spends the ticket, makes a PKCE pair (RFC 7636, S256) and a random
   ``state``, remembers them server-side (the verifier encrypted, the state only as a
   hash) bound to the organization, the integration and a browser cookie, and returns
   the provider's authorize URL.
3. ``complete`` spends the state (single-use, expiring, same browser), then exchanges the
   code for tokens, which the vault encrypts. Every failure raises :class:`FlowError`
   and stores nothing.

Framework-free: scimserver's views only turn HTTP into these calls and back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ...accounts.keyring import KeyRingError
from ...accounts.vault_store import FlowRecord, FlowStore
from .credentials import CredentialError, CredentialVault, OAuthAuthorizationCode
from .oauth import OAuthError, authorization_url, pkce_pair

TICKET_TTL = timedelta(minutes=15)
STATE_TTL = timedelta(minutes=10)


class FlowError(CredentialError):
    """The flow cannot go on; ``reason`` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FlowStart:
    """Where to send the browser, and the cookie value that binds the flow to it."""

    url: str = field(repr=False)
    browser_token: str = field(repr=False)
    integration_id: int


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OAuthFlow:
    """Tickets, start and completion of the authorization code flow."""

    def __init__(
        self,
        vault: CredentialVault,
        flows: FlowStore,
        *,
        clock: Callable[[], datetime] | None = None,
        ticket_ttl: timedelta = TICKET_TTL,
        state_ttl: timedelta = STATE_TTL,
    ) -> None:
        self.vault = vault
        self.flows = flows
        self.clock = clock or vault.clock
        self.ticket_ttl = ticket_ttl
        self.state_ttl = state_ttl

    def issue_ticket(self, organization_id: str, integration_id: int) -> str:
        """A one-time start link's secret for this organization's integration."""
        if self.flows.organization_of(integration_id) != organization_id:
            raise FlowError("unknown_integration", "no such integration in this organization")
        self._oauth_credential(integration_id)
        ticket = secrets.token_urlsafe(32)
        now = self.clock()
        self.flows.purge(now - timedelta(days=1))
        self.flows.add(
            _hash(ticket),
            FlowRecord("ticket", organization_id, integration_id, now + self.ticket_ttl),
            now,
        )
        return ticket

    def start(self, integration_id: int, ticket: str, redirect_uri: str) -> FlowStart:
        """Spend ``ticket`` and begin the flow for ``integration_id``."""
        now = self.clock()
        spent, record = self.flows.spend(_hash(ticket or "-"), "ticket", now)
        if spent == "used":
            raise FlowError("ticket_used", "This link was already used; create a new one.")
        if spent == "expired":
            raise FlowError("ticket_expired", "This link has expired; create a new one.")
        if spent != "ok" or record is None:
            raise FlowError("ticket_invalid", "This link is not valid; create a new one.")
        if record.integration_id != integration_id:
            raise FlowError("ticket_invalid", "This link is for another integration.")
        cred = self._oauth_credential(integration_id)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(32)
        browser = secrets.token_urlsafe(32)
        try:
            sealed_verifier = self.vault.require_keyring().encrypt(verifier)
        except KeyRingError as exc:  # pragma: no cover - a ring that loads can encrypt
            raise FlowError("not_configured", str(exc)) from None
        self.flows.add(
            _hash(state),
            FlowRecord(
                "state",
                record.organization_id,
                integration_id,
                now + self.state_ttl,
                code_verifier_ciphertext=sealed_verifier,
                browser_hash=_hash(browser),
                redirect_uri=redirect_uri,
            ),
            now,
        )
        url = authorization_url(
            cred, state=state, code_challenge=challenge, redirect_uri=redirect_uri
        )
        return FlowStart(url, browser, integration_id)

    def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        browser_token: str | None,
    ) -> int:
        """Finish the flow (the provider's redirect); returns the integration id."""
        if not state:
            raise FlowError("state_missing", "The provider's answer has no state.")
        spent, record = self.flows.spend(_hash(state), "state", self.clock())
        if spent == "used":
            raise FlowError("state_used", "This sign-in was already completed or abandoned.")
        if spent == "expired":
            raise FlowError("state_expired", "This sign-in took too long; start it again.")
        if spent != "ok" or record is None:
            raise FlowError("state_unknown", "This sign-in was not started here.")
        if (
            not browser_token
            or not record.browser_hash
            or not hmac.compare_digest(_hash(browser_token), record.browser_hash)
        ):
            raise FlowError(
                "browser_mismatch", "This sign-in was started in another browser; start it again."
            )
        if error:
            if error == "access_denied":
                raise FlowError("access_denied", "Access was denied at the provider.")
            shown = error if error.isascii() and error.replace("_", "").isalnum() else "error"
            raise FlowError(
                "provider_error", f"The provider answered with an error ({shown[:64]})."
            )
        if not code:
            raise FlowError("code_missing", "The provider's answer has no authorization code.")
        cred = self._oauth_credential(record.integration_id)
        try:
            verifier = self.vault.require_keyring().decrypt(record.code_verifier_ciphertext or "")
        except KeyRingError:
            raise FlowError(
                "not_configured", "The sign-in cannot be completed with the configured keys."
            ) from None
        try:
            tokens = self.vault.token_client.exchange_code(
                cred, code=code, code_verifier=verifier, redirect_uri=record.redirect_uri or ""
            )
        except OAuthError as exc:
            raise FlowError("token_error", f"The token exchange failed: {exc}") from None
        self.vault.store_tokens(record.integration_id, tokens)
        return record.integration_id

    def _oauth_credential(self, integration_id: int) -> OAuthAuthorizationCode:
        try:
            cred = self.vault.get(integration_id)
        except CredentialError as exc:
            raise FlowError("not_configured", str(exc)) from None
        if not isinstance(cred, OAuthAuthorizationCode):
            raise FlowError(
                "not_configured",
                f"integration {integration_id} is not set up for the OAuth authorization code "
                "flow (set a credential of kind oauth_authorization_code first)",
            )
        return cred
