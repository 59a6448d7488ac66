"""A real OAuth 2 authorization server (Authlib) on 127.0.0.1, for the vault's tests.

Authorization code with PKCE (S256 required), refresh tokens (rotated on use) and
client credentials. It approves every authorization request automatically unless
``deny`` is set (then it answers ``error=access_denied`` like a user clicking "Deny").
In-memory models; one instance per test module.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, request
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "users groups"
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token", "client_credentials")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_auth_time(self) -> float:
        return self.auth_time

    def get_nonce(self) -> None:
        return None


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return "admin"

    def get_client(self) -> Client:
        raise NotImplementedError


class Provider:
    """The server, its state, and where it listens."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.deny = False
        self.token_requests: list[dict[str, Any]] = []
        self.app = self._app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def add_client(self, redirect_uri: str) -> Client:
        client = Client(secrets.token_hex(8), secrets.token_urlsafe(24), [redirect_uri])
        self.clients[client.client_id] = client
        return client

    def revoke_refresh_tokens(self) -> None:
        for token in self.tokens:
            token.revoked = True

    def _app(self) -> Flask:
        provider = self
        app = Flask("test-oauth-provider")
        app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
            "authorization_code": 3600,
            "refresh_token": 3600,
            "client_credentials": 3600,
        }

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> Code:
                data = req.payload.data
                item = Code(
                    code,
                    req.client.client_id,
                    req.payload.redirect_uri,
                    req.scope or "",
                    data.get("code_challenge"),
                    data.get("code_challenge_method"),
                )
                provider.codes[code] = item
                return item

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return "admin"

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                for token in provider.tokens:
                    if token.refresh_token == refresh_token and not token.revoked:
                        return token
                return None

            def authenticate_user(self, refresh_token: Token) -> str:
                return "admin"

            def revoke_old_credential(self, refresh_token: Token) -> None:
                refresh_token.revoked = True

        class ClientGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_token(token: dict[str, Any], req: Any) -> None:
            provider.tokens.append(
                Token(
                    req.client.client_id,
                    token["access_token"],
                    token.get("refresh_token"),
                    token.get("scope", ""),
                    token.get("expires_in", 3600),
                )
            )

        server = AuthorizationServer(app, query_client=self.clients.get, save_token=save_token)
        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_grant(ClientGrant)

        @app.get("/authorize")
        def authorize() -> Any:
            grant = server.get_consent_grant(end_user="admin")
            return server.create_authorization_response(
                grant_user=None if provider.deny else "admin", grant=grant
            )

        @app.post("/token")
        def token() -> Any:
            provider.token_requests.append(dict(request.form))
            return server.create_token_response()

        return app


def allow_plain_http() -> None:
    """Authlib refuses http:// unless told otherwise; the test server is on loopback."""
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
