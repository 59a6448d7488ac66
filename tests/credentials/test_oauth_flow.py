"""The OAuth "Integrate" flow end to end against a real authorization server (Authlib)
listening on 127.0.0.1: start -> authorize (auto-approved) -> callback -> tokens stored
encrypted -> refreshed after expiry; and every way it can go wrong, each a 400 page
that stores nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scimcore.accounts import KeyRing
from scimcore.adapters.connectors.credentials import (
    CredentialVault,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
    ReauthRequired,
)
from scimcore.adapters.connectors.oauth_flow import FlowError, OAuthFlow
from scimcore.provisioning.worker import Worker
from scimcore.storage.sql.credentials import SqlCredentialStore, SqlFlowStore
from scimcore.storage.sql.tables import credentials
from scimserver import Settings, create_app

from .conftest import Clock, Org
from .oauth_provider import Provider, allow_plain_http

PUBLIC = "https://scim.example.com"
REDIRECT_URI = f"{PUBLIC}/oauth/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    allow_plain_http()
    with Provider() as running:
        yield running


@pytest.fixture(autouse=True)
def _provider_approves(provider: Provider) -> None:
    provider.deny = False


@pytest.fixture
def app(engine: Engine, key: str) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url, public_url=PUBLIC, secret_keys=(key,)))


class Setup:
    """An integration configured for the provider, and the pieces to drive the flow."""

    def __init__(
        self, org: Org, provider: Provider, vault: CredentialVault, engine: Engine
    ) -> None:
        self.org = org
        self.provider = provider
        self.vault = vault
        self.engine = engine
        self.integration = org.integrations[0]
        self.client = provider.add_client(REDIRECT_URI)
        self.flow = OAuthFlow(vault, SqlFlowStore(engine))
        vault.put(
            self.integration.id,
            OAuthAuthorizationCode(
                authorize_url=f"{provider.base}/authorize",
                token_url=f"{provider.base}/token",
                client_id=self.client.client_id,
                client_secret=self.client.client_secret,
                scopes=("users",),
            ),
        )

    def start_url(self) -> str:
        ticket = self.flow.issue_ticket(self.org.id, self.integration.id)
        return f"/admin/integrations/{self.integration.id}/oauth/start?ticket={ticket}"

    def authorize(self, browser: Any) -> str:
        """Start in ``browser`` (a Flask test client) and let the provider answer;
        returns the callback path and query the provider redirected to."""
        started = browser.get(self.start_url())
        assert started.status_code == 302, started.get_data(as_text=True)
        answer = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT_URI)
        return location.removeprefix(PUBLIC)

    def stored_row(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(credentials).where(credentials.c.integration_id == self.integration.id)
            ).mappings()
            return dict(row.one())

    def stored_tokens(self) -> tuple[str | None, str | None]:
        cred = self.vault.get(self.integration.id)
        assert isinstance(cred, OAuthAuthorizationCode)
        return cred.access_token, cred.refresh_token


@pytest.fixture
def setup(org: Org, provider: Provider, vault: CredentialVault, engine: Engine) -> Setup:
    return Setup(org, provider, vault, engine)


def test_integrate_flow_stores_tokens_encrypted_and_refreshes_them(
    setup: Setup, app: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = app.test_client()
    started = browser.get(setup.start_url())
    assert started.status_code == 302
    assert started.headers["Referrer-Policy"] == "no-referrer"
    authorize = urlsplit(started.headers["Location"])
    params = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}" == setup.provider.base
    assert params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == [REDIRECT_URI]
    assert params["client_id"] == [setup.client.client_id]
    assert params["scope"] == ["users"]
    assert "HttpOnly" in started.headers["Set-Cookie"]

    answer = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"].removeprefix(PUBLIC)
    done = browser.get(callback)
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/oauth/result?integration={setup.integration.id}")
    assert browser.get(done.headers["Location"]).status_code == 200

    issued = setup.provider.tokens[-1]
    assert setup.stored_tokens() == (issued.access_token, issued.refresh_token)
    row = setup.stored_row()
    assert issued.access_token not in json.dumps(row, default=str)
    assert issued.refresh_token not in json.dumps(row, default=str)
    assert row["access_token_expires_at"] is not None
    assert setup.org.status(setup.integration.id) == "active"
    assert setup.provider.token_requests[-1]["grant_type"] == "authorization_code"
    assert "code_verifier" in setup.provider.token_requests[-1]

    # Still valid: no call to the provider.
    calls = len(setup.provider.token_requests)
    assert setup.vault.access_token(setup.integration.id) == issued.access_token
    assert len(setup.provider.token_requests) == calls

    # Expired: refreshed once, and the rotated refresh token stored (encrypted).
    clock.advance(hours=2)
    fresh = setup.vault.access_token(setup.integration.id)
    assert fresh != issued.access_token
    assert setup.provider.token_requests[-1]["grant_type"] == "refresh_token"
    assert setup.stored_tokens() == (fresh, setup.provider.tokens[-1].refresh_token)
    assert fresh not in json.dumps(setup.stored_row(), default=str)
    clock.advance(hours=2)
    assert setup.vault.access_token(setup.integration.id) not in (fresh, issued.access_token)

    secrets = [setup.client.client_secret] + [
        v for t in setup.provider.tokens for v in (t.access_token, t.refresh_token) if v
    ]
    # Our log lines (the provider's own debug logs are its business).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("scimcore", "scimserver"))
    )
    assert "OAuth flow completed" in ours and "refreshed the access token" in ours
    for secret in secrets:
        assert secret not in ours


def test_a_replayed_callback_is_refused_and_changes_nothing(setup: Setup, app: Any) -> None:
    browser = app.test_client()
    callback = setup.authorize(browser)
    assert browser.get(callback).status_code == 302
    stored = setup.stored_tokens()
    replay = browser.get(callback)
    assert replay.status_code == 400
    assert "already completed" in replay.get_data(as_text=True)
    assert setup.stored_tokens() == stored


def test_an_unknown_state_is_refused(setup: Setup, app: Any) -> None:
    browser = app.test_client()
    callback = setup.authorize(browser)
    forged = callback.split("state=")[0] + "state=forged-state-value"
    response = browser.get(forged)
    assert response.status_code == 400
    assert "not started here" in response.get_data(as_text=True)
    assert setup.stored_tokens() == (None, None)
    assert setup.org.status(setup.integration.id) == "pending_auth"


def test_a_callback_in_another_browser_is_refused(setup: Setup, app: Any) -> None:
    callback = setup.authorize(app.test_client())
    response = app.test_client().get(callback)
    assert response.status_code == 400
    assert "another browser" in response.get_data(as_text=True)
    assert setup.stored_tokens() == (None, None)


def test_an_expired_state_is_refused(
    setup: Setup, app: Any, engine: Engine, key: str, clock: Clock
) -> None:
    clock.advance(hours=-1)  # the flow started an hour ago; states live ten minutes
    old = OAuthFlow(
        CredentialVault(SqlCredentialStore(engine), KeyRing([key]), clock=clock),
        SqlFlowStore(engine),
    )
    ticket = old.issue_ticket(setup.org.id, setup.integration.id)
    begun = old.start(setup.integration.id, ticket, REDIRECT_URI)
    state = parse_qs(urlsplit(begun.url).query)["state"][0]
    browser = app.test_client()
    browser.set_cookie("scimserver_oauth", begun.browser_token, path="/oauth/callback")
    response = browser.get(f"/oauth/callback?code=whatever&state={state}")
    assert response.status_code == 400
    assert "took too long" in response.get_data(as_text=True)
    assert setup.stored_tokens() == (None, None)


def test_access_denied_at_the_provider_is_a_clear_400(setup: Setup, app: Any) -> None:
    setup.provider.deny = True
    browser = app.test_client()
    callback = setup.authorize(browser)
    assert "error=access_denied" in callback
    response = browser.get(callback)
    assert response.status_code == 400
    assert "Access was denied" in response.get_data(as_text=True)
    assert setup.stored_tokens() == (None, None)


def test_a_failing_token_endpoint_is_a_clear_400(setup: Setup, app: Any) -> None:
    browser = app.test_client()
    callback = setup.authorize(browser)
    tampered = callback.replace("code=", "code=x", 1)
    response = browser.get(tampered)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "invalid_grant" in body
    assert setup.client.client_secret not in body
    assert setup.stored_tokens() == (None, None)


def test_an_unreachable_token_endpoint_is_a_clear_400(setup: Setup, app: Any) -> None:
    setup.vault.put(
        setup.integration.id,
        OAuthAuthorizationCode(
            authorize_url=f"{setup.provider.base}/authorize",
            token_url="http://127.0.0.1:9/token",  # discard port: nothing listens
            client_id=setup.client.client_id,
            client_secret=setup.client.client_secret,
        ),
    )
    browser = app.test_client()
    response = browser.get(setup.authorize(browser))
    assert response.status_code == 400
    assert "could not be reached" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda url: url.split("?")[0], "not valid"),
        (lambda url: url.replace("ticket=", "ticket=x"), "not valid"),
        (lambda url: url.replace("/integrations/", "/integrations/9"), "another integration"),
    ],
)
def test_start_without_a_valid_ticket_is_refused(
    setup: Setup, app: Any, mangle: Any, message: str
) -> None:
    response = app.test_client().get(mangle(setup.start_url()))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_ticket_works_once(setup: Setup, app: Any) -> None:
    url = setup.start_url()
    browser = app.test_client()
    assert browser.get(url).status_code == 302
    again = browser.get(url)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_tickets_are_only_issued_for_oauth_integrations_of_the_organization(
    setup: Setup, org: Org
) -> None:
    other = org.add_integration("No OAuth here")
    with pytest.raises(FlowError, match="no stored credential"):
        setup.flow.issue_ticket(org.id, other.id)
    with pytest.raises(FlowError, match="no such integration"):
        setup.flow.issue_ticket("another-org", setup.integration.id)


def test_refused_refresh_marks_the_integration_needs_reauth(
    setup: Setup, app: Any, clock: Clock
) -> None:
    browser = app.test_client()
    assert browser.get(setup.authorize(browser)).status_code == 302
    setup.provider.revoke_refresh_tokens()
    clock.advance(hours=2)
    with pytest.raises(ReauthRequired, match="invalid_grant"):
        setup.vault.access_token(setup.integration.id)
    assert setup.org.status(setup.integration.id) == "needs_reauth"
    calls = len(setup.provider.token_requests)
    with pytest.raises(ReauthRequired):
        setup.vault.access_token(setup.integration.id)
    assert len(setup.provider.token_requests) == calls  # no retry storm
    # Running the flow again reconnects the integration.
    browser = app.test_client()
    assert browser.get(setup.authorize(browser)).status_code == 302
    assert setup.org.status(setup.integration.id) == "active"


def test_client_credentials_tokens_are_fetched_cached_and_renewed(
    setup: Setup, vault: CredentialVault, org: Org, clock: Clock
) -> None:
    integration = org.add_integration("Machine to machine")
    vault.put(
        integration.id,
        OAuthClientCredentials(
            f"{setup.provider.base}/token",
            setup.client.client_id,
            setup.client.client_secret,
            ("users",),
            token_auth_method="client_secret_post",
        ),
    )
    first = vault.access_token(integration.id)
    assert setup.provider.token_requests[-1]["grant_type"] == "client_credentials"
    calls = len(setup.provider.token_requests)
    assert vault.access_token(integration.id) == first
    assert len(setup.provider.token_requests) == calls
    clock.advance(days=30)
    assert vault.access_token(integration.id) != first
    # The token lives in memory only: nothing about it is in the database.
    assert first not in json.dumps(setup.stored_row(), default=str)


def test_client_credentials_with_a_wrong_secret_parks_the_integration(
    setup: Setup, vault: CredentialVault, org: Org
) -> None:
    integration = org.add_integration("Wrong secret")
    vault.put(
        integration.id,
        OAuthClientCredentials(
            f"{setup.provider.base}/token", setup.client.client_id, "not-the-secret"
        ),
    )
    with pytest.raises(ReauthRequired, match="invalid_client"):
        vault.access_token(integration.id)
    assert org.status(integration.id) == "needs_reauth"


def test_refresh_happens_before_expiry_within_the_margin(
    setup: Setup, app: Any, clock: Clock
) -> None:
    browser = app.test_client()
    assert browser.get(setup.authorize(browser)).status_code == 302
    expires = setup.vault.describe(setup.integration.id).access_token_expires_at
    assert expires is not None
    clock.now = expires - timedelta(seconds=30)
    old, _ = setup.stored_tokens()
    assert setup.vault.access_token(setup.integration.id) != old


def test_the_result_page_with_an_error_says_the_integration_was_not_connected(app: Any) -> None:
    """``/oauth/result?error=access_denied`` said "The integration is connected"."""
    response = app.test_client().get("/oauth/result?integration=7&error=access_denied")
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Integration 7 was not connected (the provider answered access_denied)" in text
    assert "is connected" not in text
    odd = app.test_client().get("/oauth/result", query_string={"error": "<b>x</b>"})
    assert odd.status_code == 400
    assert "<b>" not in odd.get_data(as_text=True)
    assert app.test_client().get("/oauth/result?integration=7").status_code == 200


def test_integrate_then_provision_a_user_at_google_with_the_token_it_got(
    setup: Setup, app: Any
) -> None:
    """The whole path an admin takes, against local stand-ins for Google's OAuth server
    and Directory API: Integrate, consent, tokens in the vault; then a user created over
    SCIM is created at Google with the access token the vault hands out."""
    import json as _json

    from scimcore import ScimRequest, ScimService
    from scimcore.adapters.connectors.credential_source import VaultCredentials
    from scimcore.provisioning.worker import Worker
    from scimcore.storage.sql.provisioning import SqlProvisioningStore, set_provisioning

    from ..connectors.google_directory import USER_SCOPE, DirectoryFake, directory_server

    prov = SqlProvisioningStore(setup.engine)
    with directory_server(DirectoryFake()) as google:
        prov.bind(setup.org.id, setup.integration.id, "google_workspace", {"api_base": google.url})
        set_provisioning(setup.engine, setup.org.id, setup.integration.id, True, manual=False)
        browser = app.test_client()
        done = browser.get(setup.authorize(browser))
        assert done.status_code == 302
        issued = setup.provider.tokens[-1]
        google.grant(issued.access_token, USER_SCOPE)  # what Google would accept
        organization = setup.org.store.get_organization(setup.org.slug)
        assert organization is not None
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "oauth.user@example.com",
            "name": {"givenName": "OAuth", "familyName": "User"},
        }
        created = ScimService(setup.org.store).handle(
            organization,
            "https://x",
            ScimRequest(
                "POST",
                "/Users",
                body=_json.dumps(body).encode(),
                content_type="application/scim+json",
            ),
        )
        assert created.status == 201
        stats = Worker(prov, VaultCredentials(setup.vault), timeout=5).run(
            until_idle=True, max_seconds=60
        )
        assert stats.succeeded >= 1, stats
        remote = google.by_email("oauth.user@example.com")
        assert remote is not None and remote["name"]["givenName"] == "OAuth"
        assert google.violations == []


def test_client_credentials_then_microsoft_365_applies_the_csv_license_profile(
    setup: Setup, app: Any
) -> None:
    """Microsoft 365 end to end against local stand-ins for the tenant's token endpoint
    (client credentials) and Graph: a user created over SCIM is created in the tenant;
    a service-account CSV row then sets its license profile, and the worker assigns the
    profile's SKUs with the token the vault fetched."""
    import json as _json

    from scimcore import ScimRequest, ScimService
    from scimcore.accounts import IntegrationSettings
    from scimcore.adapters.connectors.credential_source import VaultCredentials
    from scimcore.adapters.csv import ServiceAccountImporter
    from scimcore.storage.sql import SqlAccountStore
    from scimcore.storage.sql.provisioning import SqlProvisioningStore, set_provisioning

    from ..connectors.graph_fake import GraphFake, graph_server

    accounts = SqlAccountStore(setup.engine)
    with accounts.accounts(setup.org.id) as session:
        m365 = session.create_integration(
            "Microsoft 365", "microsoft_365", IntegrationSettings(license_profiles=("E3",))
        )
    setup.vault.put(
        m365.id,
        OAuthClientCredentials(
            token_url=f"{setup.provider.base}/token",
            client_id=setup.client.client_id,
            client_secret=setup.client.client_secret,
            scopes=("users",),
        ),
    )
    prov = SqlProvisioningStore(setup.engine)
    with graph_server(GraphFake()) as graph:
        graph.subscribe("SPE_E3")
        issued = {t.access_token for t in setup.provider.tokens}
        graph.authority = lambda token: (
            {"User.ReadWrite.All", "Organization.Read.All"}
            if token in {t.access_token for t in setup.provider.tokens} - issued
            else None
        )
        prov.bind(
            setup.org.id,
            m365.id,
            "microsoft_365",
            {"api_base": graph.url, "license_skus": "E3=SPE_E3"},
        )
        set_provisioning(setup.engine, setup.org.id, m365.id, True, manual=False)
        organization = setup.org.store.get_organization(setup.org.slug)
        assert organization is not None
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "graph.user@example.com",
            "displayName": "Graph User",
        }
        created = ScimService(setup.org.store).handle(
            organization,
            "https://x",
            ScimRequest(
                "POST",
                "/Users",
                body=_json.dumps(body).encode(),
                content_type="application/scim+json",
            ),
        )
        assert created.status == 201
        worker = Worker(prov, VaultCredentials(setup.vault), timeout=5)
        worker.run(until_idle=True, max_seconds=60)
        remote = graph.by_upn("graph.user@example.com")
        assert remote is not None and remote["assignedLicenses"] == []
        csv = (
            "operation,serviceDisplayName,userId,accountId,licenseProfile\r\n"
            "UPDATE,Microsoft 365,graph.user@example.com,graph.user@example.com,E3\r\n"
        )
        report = ServiceAccountImporter(accounts, setup.org.id).run(csv.encode())
        assert report.failed == [] and report.counts["updated"] == 1
        worker.run(until_idle=True, max_seconds=60)
        assert [a["skuId"] for a in remote["assignedLicenses"]] == [graph.skus["SPE_E3"]]
        assert setup.provider.token_requests[-1]["grant_type"] == "client_credentials"
        assert graph.violations == []
