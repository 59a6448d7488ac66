"""The Microsoft 365 connector against a local Microsoft Graph held to the Graph REST
reference (tests/connectors/graph_fake.py): the contract kit, paging, sign-in times
with and without a premium licence, licence profiles, throttling, and a user created
over SCIM reaching the tenant and being disabled there, on both databases.

``--live``: with ``MICROSOFT_365_TOKEN`` (an app token with User.ReadWrite.All) and
``MICROSOFT_365_DOMAIN`` (a verified domain of the tenant), the contract kit also runs
against the real Graph.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from scimcore.adapters.connectors import BearerAuth, Connector, ConnectorContext, load
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.connector import AccountRef, AccountSpec
from scimcore.provisioning.errors import PermanentError, RateLimited

from .conftest import Env
from .graph_fake import GraphFake, graph_server

ALL = ("User.ReadWrite.All", "AuditLog.Read.All", "Organization.Read.All")


@pytest.fixture
def graph() -> Iterator[GraphFake]:
    with graph_server(GraphFake()) as fake:
        fake.grant("app-token", *ALL)
        fake.subscribe("SPE_E3", "SPE_E5", "POWER_BI_PRO", "VISIO")
        yield fake
        assert fake.violations == [], "requests Graph would refuse"


def _context(fake: GraphFake, token: str = "app-token", **settings: object) -> ConnectorContext:
    return ConnectorContext("org", 1, {"api_base": fake.url, **settings}, BearerAuth(token))


class TestMicrosoft365OnTheGraphFake(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("microsoft_365")

    @pytest.fixture
    def context(self, graph: GraphFake) -> ConnectorContext:
        return _context(graph)


@pytest.mark.skipif(
    not (os.environ.get("MICROSOFT_365_TOKEN") and os.environ.get("MICROSOFT_365_DOMAIN")),
    reason="--live: set MICROSOFT_365_TOKEN and MICROSOFT_365_DOMAIN to run against Graph",
)
class TestMicrosoft365Live(ConnectorContract):  # pragma: no cover - needs a tenant
    login_domain = os.environ.get("MICROSOFT_365_DOMAIN", "example.com")

    @pytest.fixture
    def connector(self) -> Connector:
        return load("microsoft_365")

    @pytest.fixture
    def context(self) -> ConnectorContext:
        return ConnectorContext(
            "org", 1, {}, BearerAuth(os.environ["MICROSOFT_365_TOKEN"]), timeout=30
        )


def test_discovery_follows_next_links_and_reads_sign_in_times(graph: GraphFake) -> None:
    for n in range(5):
        graph.add(f"user{n}@example.com")
    graph.add("seen@example.com", signInActivity={"lastSignInDateTime": "2026-12-01T08:00:00Z"})
    graph.add("off@example.com", accountEnabled=False)
    found = list(load("microsoft_365").iter_accounts(_context(graph), page_size=2))
    assert len(found) == 7
    assert len([t for m, t in graph.requests if "/v1.0/users?" in t]) == 4
    by = {a.login: a for a in found}
    assert by["seen@example.com"].last_access == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert by["user0@example.com"].last_access is None
    assert by["off@example.com"].status == "suspended"


def test_a_tenant_without_premium_is_listed_without_sign_in_times(graph: GraphFake) -> None:
    graph.premium = False
    graph.add("someone@example.com")
    (found,) = load("microsoft_365").iter_accounts(_context(graph))
    assert found.login == "someone@example.com" and found.last_access is None


def test_the_license_profile_adds_its_skus_and_removes_the_other_profiles(
    graph: GraphFake,
) -> None:
    connector = load("microsoft_365")
    ctx = _context(graph, license_skus="E3=SPE_E3+POWER_BI_PRO;E5=SPE_E5")
    spec = AccountSpec(
        "licensed@example.com", display_name="Licensed", extras={"license_profile": "E3"}
    )
    made = connector.create_account(ctx, spec, idempotency_key="k")
    user = graph.users[made.remote_id]
    assert user["usageLocation"] == "JP"
    e3 = {graph.skus["SPE_E3"], graph.skus["POWER_BI_PRO"]}
    assert {a["skuId"] for a in user["assignedLicenses"]} == e3
    user["assignedLicenses"].append({"skuId": graph.skus["VISIO"], "disabledPlans": []})
    ref = AccountRef(remote_id=made.remote_id)
    e5 = AccountSpec(spec.account_id, display_name="Licensed", extras={"license_profile": "E5"})
    connector.update_account(ctx, ref, e5, idempotency_key="k2")
    held = {a["skuId"] for a in user["assignedLicenses"]}
    assert held == {graph.skus["SPE_E5"], graph.skus["VISIO"]}  # VISIO: no profile names it
    calls = len(graph.requests)
    connector.update_account(ctx, ref, e5, idempotency_key="k3")
    assert not any("assignLicense" in t for _, t in graph.requests[calls:])


def test_an_unknown_sku_or_profile_fails_the_job_and_names_it(graph: GraphFake) -> None:
    connector = load("microsoft_365")
    spec = AccountSpec("p@example.com", extras={"license_profile": "E3"})
    with pytest.raises(PermanentError, match="NOT_A_SKU"):
        connector.create_account(
            _context(graph, license_skus="E3=NOT_A_SKU"), spec, idempotency_key="k"
        )
    with pytest.raises(PermanentError, match="license profile 'E3' has no SKUs"):
        connector.create_account(
            _context(graph, license_skus="E5=SPE_E5"),
            AccountSpec("q@example.com", extras={"license_profile": "E3"}),
            idempotency_key="k",
        )


def test_the_immutable_id_is_written_as_on_premises_immutable_id(graph: GraphFake) -> None:
    spec = AccountSpec("im@example.com", extras={"immutable_id": "AbCdEfGhIjKlMnOpQrStUv=="})
    made = load("microsoft_365").create_account(_context(graph), spec, idempotency_key="k")
    assert graph.users[made.remote_id]["onPremisesImmutableId"] == "AbCdEfGhIjKlMnOpQrStUv=="


def test_throttling_waits_for_retry_after(graph: GraphFake) -> None:
    graph.throttle(1)
    with pytest.raises(RateLimited) as limited:
        load("microsoft_365").get_account(_context(graph), AccountRef(account_id="x@example.com"))
    assert limited.value.retry_after == 2.0


def test_a_user_created_over_scim_reaches_the_tenant_and_is_disabled_on_deactivation(
    any_env: Env, graph: GraphFake
) -> None:
    integration = any_env.integration(
        "microsoft_365", {"api_base": graph.url}, auth=BearerAuth("app-token")
    )
    login = f"okta.{uuid.uuid4().hex[:6]}@example.com"
    uid = any_env.create_user(login, name={"givenName": "Okta", "familyName": "User"})
    assert any_env.worker().run(until_idle=True, max_seconds=60).succeeded >= 1
    remote = graph.by_upn(login)
    assert remote is not None and remote["accountEnabled"] is True
    assert (remote["givenName"], remote["surname"]) == ("Okta", "User")
    link = any_env.prov.link(any_env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote["id"]
    any_env.set_active(uid, False)
    any_env.worker().run(until_idle=True, max_seconds=60)
    assert graph.users[remote["id"]]["accountEnabled"] is False


def test_the_oauth_preset_takes_the_tenant_from_the_integrations_settings() -> None:
    preset = load("microsoft_365").oauth_preset  # type: ignore[attr-defined]
    assert preset.settings == ("tenant_id",)
    assert preset.resolve({}) is None
    assert preset.resolve({"tenant_id": "contoso.com/../evil?x="}) is None  # goes into a URL
    resolved = preset.resolve({"tenant_id": "contoso.onmicrosoft.com"})
    assert resolved.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert resolved.scopes == ("https://graph.microsoft.com/.default",)


def test_discovery_without_premium_says_why_the_sign_in_times_are_blank(
    env: Env, graph: GraphFake
) -> None:
    from scimcore.adapters.connectors.credential_source import StaticCredentials
    from scimcore.provisioning.discovery import sync

    graph.premium = False
    graph.add("someone@example.com")
    integration = env.integration(
        "microsoft_365", {"api_base": graph.url}, auth=BearerAuth("app-token"), provisioning=False
    )
    result = sync(env.prov, StaticCredentials(env.auth), env.org.id, integration)
    assert result.ok and len(result.observations) == 1
    assert len(result.notes) == 1 and "Entra ID P1 or P2" in result.notes[0]
    (completed,) = [e for e in env.prov.events(env.org.id) if e.type == "sync.completed"]
    assert completed.data["notes"] == list(result.notes)


def _certificate() -> tuple[str, str, str]:
    """(private key PEM, public key PEM, x5t) of a self-signed test certificate."""
    import base64
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scimserver test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public, x5t


@pytest.mark.parametrize("with_certificate", [False, True])
def test_client_credentials_with_a_secret_or_a_certificate_get_a_graph_token(
    graph: GraphFake, with_certificate: bool
) -> None:
    from scimcore.accounts import KeyRing
    from scimcore.adapters.connectors.credentials import (
        CredentialVault,
        MemoryCredentialStore,
        OAuthClientCredentials,
    )

    private, public, x5t = _certificate()
    graph.apps["app-id"] = ("s3cret-value", public, x5t, {"User.ReadWrite.All"})
    token_url = f"{graph.url}/contoso.onmicrosoft.com/oauth2/v2.0/token"
    cred = (
        OAuthClientCredentials(
            token_url=token_url,
            client_id="app-id",
            client_secret=private,
            scopes=("https://graph.microsoft.com/.default",),
            token_auth_method="private_key_jwt",
            certificate_thumbprint=x5t,
        )
        if with_certificate
        else OAuthClientCredentials(
            token_url=token_url,
            client_id="app-id",
            client_secret="s3cret-value",
            scopes=("https://graph.microsoft.com/.default",),
            token_auth_method="client_secret_post",
        )
    )
    store = MemoryCredentialStore()
    store.add_integration(3, "org")
    vault = CredentialVault(store, KeyRing([KeyRing.generate_key()]))
    vault.put(3, cred)
    token = vault.access_token(3)
    graph.add("someone@example.com")
    ctx = ConnectorContext("org", 3, {"api_base": graph.url}, BearerAuth(token))
    assert [a.login for a in load("microsoft_365").iter_accounts(ctx)] == ["someone@example.com"]
    assert "PRIVATE KEY" not in repr(cred)
