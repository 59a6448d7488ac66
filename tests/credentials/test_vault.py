"""The credential vault on SQLite and PostgreSQL: encrypted, write-only, bound to its row."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scimcore.accounts import KeyRing
from scimcore.adapters.connectors.credentials import (
    ApiKey,
    Basic,
    BearerToken,
    Credential,
    CredentialError,
    CredentialVault,
    IdPassword,
    MemoryCredentialStore,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
    ReauthRequired,
)
from scimcore.adapters.connectors.oauth import OAuthError, TokenClient, TokenResponse
from scimcore.storage.sql.credentials import SqlCredentialStore
from scimcore.storage.sql.tables import credentials, integrations

from .conftest import Clock, Org

SEED = base64.b32encode(b"12345678901234567890").decode()
#: Every secret below contains this marker, so "no secret leaked" is one substring check.
MARK = "S3CR3T"


def samples() -> list[Credential]:
    return [
        ApiKey("Authorization", f"{MARK}-okta-api-token-0123456789abcd", prefix="SSWS"),
        BearerToken(f"{MARK}-scim-bearer-token-zzzz"),
        Basic("svc-user", f"{MARK}-basic-pw"),
        IdPassword("admin@example.com", f"{MARK}-login-pw", totp_secret=SEED),
        OAuthClientCredentials(
            "https://idp.example.com/token", "client-123", f"{MARK}-cc-secret", ("users",)
        ),
        OAuthAuthorizationCode(
            "https://idp.example.com/authorize",
            "https://idp.example.com/token",
            "client-456",
            f"{MARK}-ac-secret",
            ("users", "groups"),
            access_token=f"{MARK}-access-token-000000",
            refresh_token=f"{MARK}-refresh-token-111111",
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    ]


def raw_rows(engine: Engine, integration_id: int) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(credentials).where(credentials.c.integration_id == integration_id)
        ).mappings()
        return [dict(r) for r in rows]


@pytest.mark.parametrize("credential", samples(), ids=lambda c: c.kind)
def test_every_kind_round_trips_encrypted(
    vault: CredentialVault, org: Org, engine: Engine, credential: Credential
) -> None:
    integration = org.integrations[0]
    info = vault.put(integration.id, credential)
    assert info.kind == credential.kind
    assert vault.get(integration.id) == credential
    (row,) = raw_rows(engine, integration.id)
    assert row["organization_id"] == org.id
    assert row["key_id"] == vault.require_keyring().primary_key_id
    assert MARK not in json.dumps(row, default=str)


@pytest.mark.parametrize("credential", samples(), ids=lambda c: c.kind)
def test_repr_describe_and_logs_never_show_a_secret(
    vault: CredentialVault, org: Org, credential: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    integration = org.integrations[0]
    vault.put(integration.id, credential)
    info = vault.describe(integration.id)
    fetched = vault.get(integration.id)
    shown = " ".join([repr(credential), str(credential), repr(fetched), repr(info), repr(vault)])
    assert MARK not in shown
    assert "<set>" in repr(credential)
    assert MARK not in caplog.text
    assert any("stored a" in r.getMessage() for r in caplog.records)


def test_hints_show_client_ids_and_last_four_characters_only(
    vault: CredentialVault, org: Org
) -> None:
    integration = org.integrations[0]
    vault.put(integration.id, ApiKey("X-Api-Key", "0123456789abcdefWXYZ"))
    assert vault.describe(integration.id).hints == {
        "header": "X-Api-Key",
        "value": "…WXYZ",
    }
    vault.put(integration.id, ApiKey("X-Api-Key", "short-key"))
    assert vault.describe(integration.id).hints["value"] == "set"
    vault.put(integration.id, samples()[5])
    hints = vault.describe(integration.id).hints
    assert hints["client_id"] == "client-456"
    assert hints["scopes"] == "users, groups"
    assert hints["client_secret"] == "set"
    assert hints["refresh_token"] == "set"


def test_describe_of_an_integration_without_credential_says_not_set(
    vault: CredentialVault, org: Org
) -> None:
    info = vault.describe(org.integrations[0].id)
    assert not info.is_set
    assert info.hints == {"credential": "not set"}
    with pytest.raises(CredentialError, match="no stored credential"):
        vault.get(org.integrations[0].id)


def test_wrong_key_gives_a_clear_error_and_leaks_nothing(
    vault: CredentialVault, org: Org, engine: Engine, clock: Clock
) -> None:
    integration = org.integrations[0]
    vault.put(integration.id, samples()[2])
    other = CredentialVault(
        SqlCredentialStore(engine), KeyRing([KeyRing.generate_key()]), clock=clock
    )
    with pytest.raises(CredentialError) as exc:
        other.get(integration.id)
    message = str(exc.value)
    assert "cannot be decrypted with the configured keys" in message
    assert "SCIMSERVER_SECRET_KEYS" in message
    assert MARK not in message and MARK not in repr(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    # Describing needs no key at all.
    assert other.describe(integration.id).hints["password"] == "set"


def test_ciphertext_copied_onto_another_integration_is_refused(
    vault: CredentialVault, org: Org, engine: Engine
) -> None:
    first = org.integrations[0]
    second = org.add_integration("Other service")
    vault.put(first.id, samples()[2])
    vault.put(second.id, Basic("someone-else", "other-password"))
    (stolen,) = raw_rows(engine, first.id)
    with engine.begin() as conn:
        conn.execute(
            sa.update(credentials)
            .where(credentials.c.integration_id == second.id)
            .values(secret_ciphertext=stolen["secret_ciphertext"])
        )
    with pytest.raises(CredentialError, match="does not belong to it"):
        vault.get(second.id)


def test_deleting_the_integration_wipes_its_credential(
    vault: CredentialVault, org: Org, engine: Engine
) -> None:
    integration = org.integrations[0]
    vault.put(integration.id, samples()[0])
    with engine.begin() as conn:
        conn.execute(sa.delete(integrations).where(integrations.c.id == integration.id))
    assert raw_rows(engine, integration.id) == []


def test_delete_removes_the_credential(vault: CredentialVault, org: Org) -> None:
    integration = org.integrations[0]
    vault.put(integration.id, samples()[1])
    assert vault.delete(integration.id)
    assert not vault.delete(integration.id)
    assert not vault.describe(integration.id).is_set


def test_unknown_integration_and_missing_key_are_clear_errors(
    vault: CredentialVault, engine: Engine
) -> None:
    with pytest.raises(CredentialError, match="integration 987654321 does not exist"):
        vault.put(987654321, samples()[1])
    keyless = CredentialVault(SqlCredentialStore(engine), None)
    with pytest.raises(CredentialError, match="SCIMSERVER_SECRET_KEYS"):
        keyless.put(987654321, samples()[1])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ApiKey("Bad Header", "k"), "header"),
        (lambda: ApiKey("X-Key", "line\nbreak"), "line breaks"),
        (lambda: Basic("a:b", "pw"), "':'"),
        (
            lambda: OAuthClientCredentials("http://idp.example.com/token", "c", "s"),
            "https",
        ),
        (
            lambda: OAuthAuthorizationCode(
                "https://a.example/authorize", "https://a.example/token", "c", "s", ("a b",)
            ),
            "scope",
        ),
    ],
)
def test_malformed_credentials_are_refused_before_storage(build: object, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        build()  # type: ignore[operator]


class RefusingTokenClient(TokenClient):
    """A token endpoint that refuses every refresh (the real one is in test_oauth_flow)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def refresh(self, cred: OAuthAuthorizationCode) -> TokenResponse:
        self.calls += 1
        raise OAuthError("refused: invalid_grant", error="invalid_grant", status=400)


def test_refused_refresh_parks_the_integration_and_is_not_retried(
    org: Org, engine: Engine, key: str, clock: Clock
) -> None:
    client = RefusingTokenClient()
    vault = CredentialVault(
        SqlCredentialStore(engine), KeyRing([key]), clock=clock, token_client=client
    )
    integration = org.integrations[0]
    expired = OAuthAuthorizationCode(
        "https://idp.example.com/authorize",
        "https://idp.example.com/token",
        "client",
        "secret",
        access_token="old-access",
        refresh_token="old-refresh",
        expires_at=clock() - timedelta(minutes=1),
    )
    vault.put(integration.id, expired)
    assert org.status(integration.id) == "active"
    with pytest.raises(ReauthRequired, match="invalid_grant"):
        vault.access_token(integration.id)
    assert org.status(integration.id) == "needs_reauth"
    with pytest.raises(ReauthRequired):
        vault.access_token(integration.id)
    assert client.calls == 1
    vault.put(integration.id, expired)  # an admin stores a new credential
    assert org.status(integration.id) == "active"


def test_authorization_code_credential_without_tokens_is_pending(
    vault: CredentialVault, org: Org
) -> None:
    integration = org.integrations[0]
    vault.put(
        integration.id,
        OAuthAuthorizationCode(
            "https://idp.example.com/authorize", "https://idp.example.com/token", "c", "s"
        ),
    )
    assert org.status(integration.id) == "pending_auth"
    with pytest.raises(ReauthRequired, match="no refresh token"):
        vault.access_token(integration.id)


def test_api_key_has_no_access_token_but_a_header(vault: CredentialVault, org: Org) -> None:
    integration = org.integrations[0]
    vault.put(integration.id, ApiKey("Authorization", "tok", prefix="SSWS"))
    with pytest.raises(CredentialError, match="has no access token"):
        vault.access_token(integration.id)
    cred = vault.get(integration.id)
    assert isinstance(cred, ApiKey)
    assert cred.headers() == {"Authorization": "SSWS tok"}


def test_memory_store_behaves_like_sql() -> None:
    store = MemoryCredentialStore()
    store.add_integration(1, "org")
    vault = CredentialVault(store, KeyRing([KeyRing.generate_key()]))
    vault.put(1, samples()[3])
    assert vault.get(1) == samples()[3]
    store.remove_integration(1)
    assert not vault.describe(1).is_set


def test_a_connector_that_signs_its_own_way_gets_the_credential_before_the_default(
    vault: CredentialVault, org: Org
) -> None:
    """An ID/password is HTTP Basic by default; a connector with ``auth_from`` (cybozu.com's
    header, a login form) receives the credential itself, and ``None`` keeps the default."""
    from scimcore.adapters.connectors import BasicAuth, HttpRequest
    from scimcore.adapters.connectors.credential_source import VaultCredentials
    from scimcore.provisioning.store import Binding

    class HeaderAuth:
        def __init__(self, credential: IdPassword) -> None:
            self._value = f"{credential.username}/{credential.password}"

        def apply(self, request: HttpRequest) -> None:
            request.headers["X-Login"] = self._value

    class OwnWay:
        auth_methods = frozenset({"id_password"})

        def __init__(self, mine: bool) -> None:
            self.mine = mine

        def auth_from(self, credential: object) -> HeaderAuth | None:
            assert isinstance(credential, IdPassword)
            return HeaderAuth(credential) if self.mine else None

    integration = org.integrations[0]
    vault.put(integration.id, IdPassword("admin@example.com", "pw-1"))
    binding = Binding(integration, "own_way")
    source = VaultCredentials(vault)
    own = source.auth_for(binding, OwnWay(True))  # type: ignore[arg-type]
    request = HttpRequest("GET", "https://svc.example/", {})
    own.apply(request)
    assert request.headers == {"X-Login": "admin@example.com/pw-1"}
    assert isinstance(source.auth_for(binding, OwnWay(False)), BasicAuth)  # type: ignore[arg-type]
