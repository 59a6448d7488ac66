"""``scimserver keys`` (generate, rotate) and ``scimserver integrations credential``,
each on a private database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore import issue_token
from scimcore.accounts import AccountValues, IntegrationSettings, KeyRing
from scimcore.adapters.connectors.credentials import Basic, CredentialVault, IdPassword
from scimcore.storage.migrate import upgrade
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.credentials import SqlCredentialStore
from scimcore.storage.sql.tables import credentials, resources, service_accounts
from scimserver import Settings, create_app
from scimserver.cli import main

PG_ENV = "SCIMSERVER_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, migrated database used by this test only."""
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'cli.db'}"
        upgrade(db)
        yield db
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"scim_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = admin.url.set(database=name).render_as_string(hide_password=False)
    upgrade(db)
    yield db
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@dataclass
class World:
    url: str
    old: str
    slug: str
    org_id: str
    integration_id: int
    engine: sa.Engine

    def cli(self, *args: str, keys: str | None = None, input: str | None = None) -> Any:
        env = {
            "SCIMSERVER_DATABASE_URL": self.url,
            "SCIMSERVER_SECRET_KEYS": keys if keys is not None else self.old,
            "SCIMSERVER_PUBLIC_URL": "https://scim.example.com",
        }
        return CliRunner().invoke(main, list(args), env=env, input=input)


@pytest.fixture
def world(url: str) -> Iterator[World]:
    engine = make_engine(url)
    store = SqlStore(engine)
    org = store.create_organization("acme", "Acme")
    with SqlAccountStore(engine).accounts(org.id) as session:
        integration = session.create_integration("Portal", "form_based", IntegrationSettings())
    yield World(url, KeyRing.generate_key(), org.slug, org.id, integration.id, engine)
    engine.dispose()


def test_keys_generate_prints_a_usable_key() -> None:
    result = CliRunner().invoke(main, ["keys", "generate"])
    assert result.exit_code == 0
    KeyRing([result.output.strip()])


def test_rotate_reencrypts_credentials_service_and_user_passwords(world: World) -> None:
    old_ring = KeyRing([world.old])
    vault = CredentialVault(SqlCredentialStore(world.engine), old_ring)
    vault.put(world.integration_id, IdPassword("admin", "login-pw"))
    # A user with a SCIM password (encrypted by the service) and a service password.
    app = create_app(Settings(database_url=world.url, secret_keys=(world.old,)))
    store = app.extensions["scimcore"]["store"]
    token = issue_token(store, store.get_organization(world.slug)).token
    created = app.test_client().post(
        f"/scim/v2/organizations/{world.slug}/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@example.com",
            "password": "user-pw",
        },
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/scim+json",
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id = created.get_json()["id"]
    with SqlAccountStore(world.engine).accounts(world.org_id) as session:
        session.apply(
            inserts=[
                AccountValues(
                    world.integration_id,
                    user_id,
                    "ann",
                    service_password_ciphertext=old_ring.encrypt("service-pw"),
                )
            ]
        )

    new = KeyRing.generate_key()
    result = world.cli("keys", "rotate", "--json", keys=f"{new},{world.old}")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "rotated": {"credentials": 1, "service_passwords": 1, "resource_passwords": 1},
        "failed": [],
    }

    only_new, only_old = KeyRing([new]), KeyRing([world.old])
    assert CredentialVault(SqlCredentialStore(world.engine), only_new).get(
        world.integration_id
    ) == IdPassword("admin", "login-pw")
    with world.engine.connect() as conn:
        service = conn.execute(sa.select(service_accounts.c.service_password_ciphertext)).scalar()
        data, folded = conn.execute(
            sa.select(resources.c.data, resources.c.folded).where(resources.c.id == user_id)
        ).one()
        key_id = conn.execute(sa.select(credentials.c.key_id)).scalar()
    assert only_new.decrypt(service) == "service-pw"
    assert only_new.decrypt(data["password"]) == "user-pw"
    assert folded["password"] == data["password"].lower()
    assert key_id == only_new.primary_key_id
    for ciphertext in (service, data["password"]):
        with pytest.raises(ValueError):
            only_old.decrypt(ciphertext)

    # Running it again is harmless: credentials already under the new key are skipped.
    again = world.cli("keys", "rotate", "--json", keys=new)
    assert json.loads(again.output)["rotated"]["credentials"] == 0
    # The user is still served as before: nothing a client can read changed.
    assert (
        app.test_client()
        .get(
            f"/scim/v2/organizations/{world.slug}/Users/{user_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        .status_code
        == 200
    )


def test_rotate_reports_rows_no_key_can_read_and_goes_on(world: World) -> None:
    stranger = CredentialVault(SqlCredentialStore(world.engine), KeyRing([KeyRing.generate_key()]))
    stranger.put(world.integration_id, Basic("u", "unreadable-secret"))
    result = world.cli("keys", "rotate", keys=f"{KeyRing.generate_key()},{world.old}")
    assert result.exit_code == 1
    assert "cannot decrypt credentials id" in result.output
    assert "unreadable-secret" not in result.output


def test_rotate_without_keys_is_refused(world: World) -> None:
    result = world.cli("keys", "rotate", keys="")
    assert result.exit_code == 1
    assert "SCIMSERVER_SECRET_KEYS is not set" in result.output


def test_credential_set_reads_secrets_from_stdin_and_show_prints_hints_only(
    world: World,
) -> None:
    set_result = world.cli(
        "integrations",
        "credential",
        "set",
        "acme",
        "Portal",
        "--kind",
        "id_password",
        "--username",
        "admin@acme.example",
        "--totp",
        "--json",
        input="very-secret-pw\nGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
    )
    assert set_result.exit_code == 0, set_result.output
    shown = world.cli("integrations", "credential", "show", "acme", "Portal", "--json")
    data = json.loads(shown.output)
    assert data["kind"] == "id_password"
    assert data["hints"] == {
        "username": "admin@acme.example",
        "password": "set",
        "totp_secret": "set",
    }
    assert data["integration_status"] == "active"
    for output in (set_result.output, shown.output):
        assert "very-secret-pw" not in output and "GEZDGNBV" not in output
    vault = CredentialVault(SqlCredentialStore(world.engine), KeyRing([world.old]))
    stored = vault.get(world.integration_id)
    assert isinstance(stored, IdPassword) and stored.password == "very-secret-pw"


def test_credential_set_api_key_shows_only_the_last_four_characters(world: World) -> None:
    result = world.cli(
        "integrations",
        "credential",
        "set",
        "acme",
        str(world.integration_id),
        "--kind",
        "api_key",
        "--prefix",
        "SSWS",
        input="00abcdefghijklmnopqrstuvwxyz-9f3Q\n",
    )
    assert result.exit_code == 0, result.output
    shown = world.cli("integrations", "credential", "show", "acme", "Portal")
    assert "value: …9f3Q" in shown.output
    assert "abcdefgh" not in shown.output


def test_credential_set_without_a_key_ring_or_secret_fails_clearly(world: World) -> None:
    no_keys = world.cli(
        "integrations",
        "credential",
        "set",
        "acme",
        "Portal",
        "--kind",
        "bearer",
        keys="",
        input="tok\n",
    )
    assert no_keys.exit_code == 1
    assert "SCIMSERVER_SECRET_KEYS" in no_keys.output
    no_input = world.cli("integrations", "credential", "set", "acme", "Portal", "--kind", "bearer")
    assert no_input.exit_code == 1
    assert "expected the token on standard input" in no_input.output


def test_oauth_link_prints_a_one_time_start_url(world: World) -> None:
    world.cli(
        "integrations",
        "credential",
        "set",
        "acme",
        "Portal",
        "--kind",
        "oauth_authorization_code",
        "--authorize-url",
        "https://idp.example.com/authorize",
        "--token-url",
        "https://idp.example.com/token",
        "--client-id",
        "abc",
        "--scope",
        "users",
        input="client-secret-value\n",
    )
    result = world.cli("integrations", "oauth-link", "acme", "Portal", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["url"].startswith(
        f"https://scim.example.com/admin/integrations/{world.integration_id}/oauth/start?ticket="
    )
    assert data["redirect_uri"] == "https://scim.example.com/oauth/callback"
    shown = world.cli("integrations", "credential", "show", "acme", "Portal", "--json")
    assert json.loads(shown.output)["integration_status"] == "pending_auth"
    deleted = world.cli("integrations", "credential", "delete", "acme", "Portal")
    assert "Revoke the grant" in deleted.output


def test_oauth_client_of_a_connector_with_a_preset_needs_only_its_id_and_secret(
    world: World,
) -> None:
    connected = world.cli(
        "services", "connect", "acme", "Portal", "--connector", "google_workspace"
    )
    assert connected.exit_code == 0, connected.output
    result = world.cli(
        "integrations", "credential", "set", "acme", "Portal",
        "--kind", "oauth_authorization_code", "--client-id", "g-client", "--json",
        input="client-secret-value\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(
        world.cli("integrations", "credential", "show", "acme", "Portal", "--json").output
    )
    hints = shown["hints"]
    assert hints["authorize_url"] == "https://accounts.google.com/o/oauth2/v2/auth"
    assert hints["token_url"] == "https://oauth2.googleapis.com/token"
    assert "admin.directory.user" in str(hints["scopes"])


def test_a_microsoft_365_client_takes_its_token_url_from_the_tenant_setting(
    world: World,
) -> None:
    connected = world.cli(
        "services", "connect", "acme", "Portal", "--connector", "microsoft_365",
        "--setting", "tenant_id=contoso.onmicrosoft.com",
    )  # fmt: skip
    assert connected.exit_code == 0, connected.output
    result = world.cli(
        "integrations", "credential", "set", "acme", "Portal",
        "--kind", "oauth_client_credentials", "--client-id", "app-id",
        input="client-secret-value\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = world.cli("integrations", "credential", "show", "acme", "Portal", "--json")
    hints = json.loads(shown.output)["hints"]
    assert hints["token_url"] == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )


def test_a_google_service_account_is_stored_from_its_key_file_without_its_key(
    world: World, tmp_path: Any
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "sync@proj.iam.gserviceaccount.com",
                "private_key_id": "abc123",
                "private_key": pem,
            }
        )
    )
    assert (
        world.cli(
            "services", "connect", "acme", "Portal", "--connector", "google_workspace"
        ).exit_code
        == 0
    )
    stored = world.cli(
        "integrations", "credential", "set", "acme", "Portal",
        "--kind", "google_service_account", "--key-file", str(key_file),
        "--subject", "admin@example.com", "--json",
    )  # fmt: skip
    assert stored.exit_code == 0, stored.output
    hints = json.loads(
        world.cli("integrations", "credential", "show", "acme", "Portal", "--json").output
    )["hints"]
    assert hints["client_email"] == "sync@proj.iam.gserviceaccount.com"
    assert hints["subject"] == "admin@example.com" and hints["private_key"] == "set"
    assert "gmail.settings.basic" in hints["scopes"]  # what the connector needs delegated
    with world.engine.connect() as conn:
        text = json.dumps(
            [dict(r) for r in conn.execute(sa.select(credentials)).mappings()], default=str
        )
    assert "PRIVATE KEY" not in text and "PRIVATE KEY" not in stored.output


def test_an_app_certificate_is_stored_for_client_credentials_without_its_key(
    world: World, tmp_path: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=9))
        .sign(key, hashes.SHA256())
    )
    pem = (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        + cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    path = tmp_path / "app.pem"
    path.write_text(pem)
    stored = world.cli(
        "integrations", "credential", "set", "acme", "Portal",
        "--kind", "oauth_client_credentials", "--client-id", "app-id",
        "--token-url", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        "--scope", "https://graph.microsoft.com/.default",
        "--certificate-file", str(path), "--json",
    )  # fmt: skip
    assert stored.exit_code == 0, stored.output
    shown = world.cli("integrations", "credential", "show", "acme", "Portal", "--json")
    hints = json.loads(shown.output)["hints"]
    assert hints["token_auth_method"] == "private_key_jwt"
    assert len(hints["certificate_thumbprint"]) == 27 and hints["client_secret"] == "set"
    with world.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(credentials)).mappings()]
    assert "PRIVATE KEY" not in json.dumps(rows, default=str) + stored.output + shown.output
