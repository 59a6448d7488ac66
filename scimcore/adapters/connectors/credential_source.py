"""Where the worker and discovery get an integration's authenticator
(:class:`~scimcore.provisioning.worker.CredentialSource`): given in code, or from the
credential vault, decrypted at each call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from ...provisioning.connector import Auth, Connector, HttpRequest
from ...provisioning.errors import AuthenticationFailed
from ...provisioning.store import Binding
from .auth import BearerAuth, HmacSigner, NoAuth, auth_from_credential
from .credentials import CredentialError


class StaticCredentials:
    """Authenticators given in code, by integration id (tests, embedders)."""

    def __init__(self, by_integration: Mapping[int, Auth] | None = None) -> None:
        self._auth = dict(by_integration or {})

    def auth_for(self, binding: Binding, connector: Connector) -> Auth:
        return self._auth.get(binding.integration.id, NoAuth())


class VaultCredentials:
    """Credentials from the vault (:class:`~.credentials.CredentialVault`), decrypted per call.

    A connector that signs requests its own way (cybozu.com's ``X-Cybozu-Authorization``,
    a login form) turns the credential into its authenticator itself, by an optional
    ``auth_from(credential) -> Auth | None`` method, asked first; ``None`` leaves the
    default. Bearer and OAuth credentials become ``Authorization: Bearer`` with a token
    the vault refreshes; a webhook's secret (an API key or bearer credential) signs its bodies.
    Any vault failure (no credential, wrong key, refused refresh) is an
    :class:`~.errors.AuthenticationFailed` naming the integration, never a secret.
    """

    def __init__(self, vault: Any) -> None:
        self.vault = vault

    def auth_for(self, binding: Binding, connector: Connector) -> Auth:
        integration_id = binding.integration.id
        if connector.auth_methods <= {"none"}:
            return NoAuth()
        try:
            credential = self.vault.get(integration_id)
            own = getattr(connector, "auth_from", None)
            if callable(own) and (auth := own(credential)) is not None:
                return cast(Auth, auth)
            kind = getattr(credential, "kind", "")
            if kind == "google_service_account":
                return GoogleDelegation(self.vault, integration_id)
            if "hmac_secret" in connector.auth_methods:
                secret = getattr(credential, "value", None) or getattr(credential, "token", None)
                if not secret:
                    raise ValueError("a webhook needs an API key or bearer credential as secret")
                return HmacSigner(str(secret))
            if kind in ("bearer", "oauth_client_credentials", "oauth_authorization_code"):
                return BearerAuth(self.vault.access_token(integration_id))
            return auth_from_credential(credential)
        except AuthenticationFailed:
            raise
        except CredentialError as exc:  # its messages name fields and kinds, never values
            raise AuthenticationFailed(f"integration {integration_id}: {exc}") from None
        except Exception as exc:
            raise AuthenticationFailed(
                f"integration {integration_id}: its credential cannot be used "
                f"({type(exc).__name__}); store it again or re-run the Integrate flow"
            ) from None


class GoogleDelegation:
    """A Google service account with domain-wide delegation as an :class:`Auth`: the
    administrator's token on every request, and :meth:`as_user` for the calls a user's
    own token must make (Gmail's per-user settings). Tokens come from the vault, which
    keeps them in memory until they expire."""

    def __init__(self, vault: Any, integration_id: int) -> None:
        self.vault = vault
        self.integration_id = integration_id
        # Fetched now, so a refused delegation fails here, where the engine expects it.
        self._token = vault.delegated_token(integration_id)

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    def as_user(self, email: str, scopes: tuple[str, ...]) -> Auth:
        """An authenticator acting as ``email`` for ``scopes``."""
        try:
            token = self.vault.delegated_token(self.integration_id, subject=email, scopes=scopes)
        except CredentialError as exc:
            raise AuthenticationFailed(str(exc)) from None
        return BearerAuth(token)

    def __repr__(self) -> str:
        return f"GoogleDelegation(integration={self.integration_id}, <secret>)"
