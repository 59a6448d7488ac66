"""Integrations and Activity in the admin console (Flask test client, SQLite and PostgreSQL).

Credentials are write-only (no response and no table holds a secret in plain text),
every new form needs its CSRF token, "Integrate" mints a one-time OAuth link, "Sync now"
classifies accounts (managed, retired, external, unknown) and the filters find leavers'
accounts; provisioning events show on Activity and on a user's page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from scimcore.adapters.connectors import Capability, ConnectionCheck, RemoteAccount
from scimcore.adapters.connectors.credentials import (
    CredentialVault,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
)
from scimcore.provisioning.connector import ConnectorContext, HttpRequest
from scimcore.provisioning.errors import AuthenticationFailed
from scimcore.provisioning.registry import register
from scimcore.storage.sql.credentials import SqlCredentialStore
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.tables import metadata

from .admin_support import (
    Tenant,
    create_service,
    create_user,
    new_tenant,
    page_token,
    upload_csv,
)

API_KEY = "ak-live-0123456789-SECRETVALUE-wxyz"
BEARER = "bt-9f8e7d6c5b4a-TOPSECRET-tok9"
PASSWORD = "pw-Very-Secret-Login-Passw0rd"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CLIENT_SECRET = "oauth-client-secret-never-shown"


class FakeDiscovery:
    """A connector that lists fixed accounts and remembers the header it was given."""

    name: ClassVar[str] = "admin_test"
    display_name: ClassVar[str] = "Admin test"
    capabilities: ClassVar[Capability] = Capability.DISCOVER
    auth_methods: ClassVar[frozenset[str]] = frozenset({"bearer"})
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "email"
    accounts: ClassVar[list[RemoteAccount]] = []
    seen_authorization: ClassVar[list[str]] = []
    fail: ClassVar[bool] = False
    notes: ClassVar[list[str]] = []

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        request = HttpRequest("GET", "https://svc.example.com/me", {})
        ctx.auth.apply(request)
        if type(self).fail:
            raise AuthenticationFailed("HTTP 401 from the service")
        return ConnectionCheck(True, "signed in as svc-admin")

    def iter_accounts(self, ctx: ConnectorContext, *, page_size: int = 100) -> Iterator[Any]:
        request = HttpRequest("GET", "https://svc.example.com/users", {})
        ctx.auth.apply(request)
        type(self).seen_authorization.append(request.headers.get("Authorization", ""))
        if type(self).fail:
            raise AuthenticationFailed("HTTP 401 from the service")
        ctx.notes.extend(type(self).notes)
        yield from type(self).accounts


register(FakeDiscovery)


@pytest.fixture(autouse=True)
def _fresh_fake() -> None:
    FakeDiscovery.accounts = []
    FakeDiscovery.seen_authorization = []
    FakeDiscovery.fail = False
    FakeDiscovery.notes = []


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _engine(app: Any) -> sa.engine.Engine:
    return app.extensions["scimserver_admin"].store.engine  # type: ignore[no-any-return]


def _service(app: Any, tenant: Tenant, name: str, connector: str = "admin_test") -> int:
    create_service(app, tenant, name, "scim2")
    with app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        found = next(i for i in session.integrations() if i.display_name == name)
    SqlProvisioningStore(_engine(app)).bind(tenant.id, found.id, connector, {})
    return int(found.id)


def _base(tenant: Tenant, integration_id: int) -> str:
    return f"/admin/o/{tenant.slug}/integrations/{integration_id}"


def _database_text(app: Any) -> str:
    """Every row of every table, as text: what someone reading the database sees."""
    parts: list[str] = []
    with _engine(app).connect() as conn:
        for table in metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(sa.select(table)))
    return "\n".join(parts)


def _leavers_fixture(app: Any, client: Any, tenant: Tenant) -> int:
    create_user(client, tenant, "alice@example.com", emails=[{"value": "alice@example.com"}])
    create_user(
        client, tenant, "bob@example.com", active=False, emails=[{"value": "bob@example.com"}]
    )
    SqlProvisioningStore(_engine(app)).add_domain(tenant.id, "example.com")
    FakeDiscovery.accounts = [
        RemoteAccount("r1", "alice@example.com", email="alice@example.com"),
        RemoteAccount("r2", "bob@example.com", email="bob@example.com"),
        RemoteAccount("r3", "partner@other.org", email="partner@other.org"),
        RemoteAccount("r4", "ghost@example.com", email="ghost@example.com"),
    ]
    return _service(app, tenant, "Wiki")


# -- credentials ----------------------------------------------------------------------------


def test_credential_forms_never_echo_a_secret_and_store_none_in_plaintext(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    base = _base(tenant, _service(console_app, tenant, "Wiki"))
    token = page_token(client, base)
    responses = []
    posted = client.post(
        base + "/credential",
        data={"csrf_token": token, "kind": "api_key", "header": "X-Api-Key", "secret": API_KEY},
    )
    assert posted.status_code == 303
    responses.append(posted)
    shown = client.get(posted.headers["Location"])
    responses.append(shown)
    html = _text(shown)
    assert "The credential was stored" in html and "api key" in html
    assert "…wxyz" in html and "X-Api-Key" in html  # the hint the vault allows, no more
    for data in (
        {"kind": "bearer", "secret": BEARER},
        {"kind": "id_password", "username": "svc-admin", "secret": PASSWORD, "totp_secret": TOTP},
    ):
        posted = client.post(base + "/credential", data={"csrf_token": token, **data})
        assert posted.status_code == 303
        responses += [posted, client.get(posted.headers["Location"])]
    html = _text(responses[-1])
    assert "id password" in html and "svc-admin" in html and "totp secret" in html
    # A refused submission (bad TOTP seed) re-renders the form without the secrets.
    bad = client.post(
        base + "/credential",
        data={
            "csrf_token": token,
            "kind": "id_password",
            "username": "svc-admin",
            "secret": PASSWORD + "-2",
            "totp_secret": "not base32 !!" + PASSWORD,
        },
    )
    assert bad.status_code == 400 and "The credential was not stored" in _text(bad)
    responses.append(bad)
    responses += [
        client.get(f"/admin/o/{tenant.slug}/integrations"),
        client.get(f"/admin/o/{tenant.slug}/activity"),
    ]
    for response in responses:
        body = _text(response) + str(response.headers)
        for secret in (API_KEY, BEARER, PASSWORD, TOTP):
            assert secret not in body
    stored = _database_text(console_app)
    for secret in (API_KEY, BEARER, PASSWORD, TOTP):
        assert secret not in stored
    assert "credential set" in _text(responses[-1])  # audited, by kind only


def test_delete_credential(client: Any, console_app: Any, tenant: Tenant) -> None:
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    detail = _text(client.get(base))
    assert f'href="{base}/credential/delete"' in detail  # a link to a confirmation, no form
    asked = _text(client.get(base + "/credential/delete"))
    assert "Delete the credential of Wiki?" in asked and "Cancel" in asked
    unconfirmed = client.post(base + "/credential/delete", data={"csrf_token": token})
    assert unconfirmed.status_code == 200 and "Delete the credential of Wiki?" in _text(unconfirmed)
    assert "No credential is stored." not in _text(client.get(base))
    deleted = client.post(base + "/credential/delete", data={"csrf_token": token, "confirm": "yes"})
    assert deleted.status_code == 303
    assert "No credential is stored." in _text(client.get(deleted.headers["Location"]))


def test_every_new_post_requires_its_csrf_token(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    forms = {
        "/credential": {"kind": "bearer", "secret": BEARER},
        "/credential/delete": {},
        "/integrate": {},
        "/sync": {},
    }
    for suffix, data in forms.items():
        for extra in ({}, {"csrf_token": "forged-" + "x" * 40}):
            refused = client.post(base + suffix, data={**data, **extra})
            assert refused.status_code == 400, suffix
            assert "security token" in _text(refused)
            assert BEARER not in _text(refused)
    vault = CredentialVault(SqlCredentialStore(_engine(console_app)), None)
    assert vault.describe(integration).kind is None
    assert FakeDiscovery.seen_authorization == []


def test_another_organizations_integration_is_404_for_every_page_and_form(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    other = new_tenant(console_app)
    theirs = _service(console_app, other, "Their secret service")
    token = page_token(client, f"/admin/o/{tenant.slug}/integrations")
    for base in (_base(other, theirs), _base(tenant, theirs)):
        response = client.get(base)
        assert response.status_code == 404, base
        assert "Their secret service" not in _text(response)
        for suffix in ("/credential", "/credential/delete", "/integrate", "/sync"):
            posted = client.post(
                base + suffix, data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
            )
            assert posted.status_code == 404, base + suffix
    vault = CredentialVault(SqlCredentialStore(_engine(console_app)), None)
    assert vault.describe(theirs).kind is None
    assert FakeDiscovery.seen_authorization == []


# -- Integrate (OAuth) ------------------------------------------------------------------------


def test_integrate_mints_a_one_time_ticket_and_redirects_to_the_oauth_start(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    from scimcore.accounts import KeyRing

    from .admin_support import SECRET_KEY

    integration = _service(console_app, tenant, "Drive", connector="scim2")
    base = _base(tenant, integration)
    token = page_token(client, base)
    assert ">Integrate</button>" not in _text(client.get(base))
    not_oauth = client.post(base + "/integrate", data={"csrf_token": token})
    assert not_oauth.status_code == 400
    vault = CredentialVault(SqlCredentialStore(_engine(console_app)), KeyRing((SECRET_KEY,)))
    vault.put(
        integration,
        OAuthAuthorizationCode(
            authorize_url="http://127.0.0.1:9/authorize",
            token_url="http://127.0.0.1:9/token",
            client_id="console-client",
            client_secret=CLIENT_SECRET,
            scopes=("users.read",),
        ),
    )
    page = client.get(base)
    assert "waiting for sign-in" in _text(page) and ">Integrate</button>" in _text(page)
    assert CLIENT_SECRET not in _text(page)
    posted = client.post(base + "/integrate", data={"csrf_token": token})
    # A page that moves on by itself: a redirect after a form post would be blocked by
    # the console's CSP form-action 'self' once it reaches the provider's origin.
    assert posted.status_code == 200
    found = re.search(
        rf'href="(/admin/integrations/{integration}/oauth/start\?ticket=[\w-]+)"', _text(posted)
    )
    assert found, _text(posted)
    location = found.group(1)
    assert f'http-equiv="refresh" content="0; url={location}"' in _text(posted)
    start = client.get(location)
    assert start.status_code == 302
    assert start.headers["Location"].startswith("http://127.0.0.1:9/authorize?")
    assert "client_id=console-client" in start.headers["Location"]
    assert CLIENT_SECRET not in start.headers["Location"]
    assert client.get(location).status_code == 400  # the ticket works once
    assert "integration oauth started" in _text(client.get(f"/admin/o/{tenant.slug}/activity"))


# -- status, Sync now, classification filters -----------------------------------------------


def test_sync_now_classifies_accounts_and_the_filters_find_leavers(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers_fixture(console_app, client, tenant)
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    before = _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    assert "never" in before
    synced = client.post(base + "/sync", data={"csrf_token": token})
    assert synced.status_code == 303 and "notice=sync_done" in synced.headers["Location"]
    assert FakeDiscovery.seen_authorization == [f"Bearer {BEARER}"]  # from the vault
    html = _text(client.get(synced.headers["Location"]))
    assert "The sync finished" in html and "succeeded" in html and "retired 1" in html
    assert "Retired (leaver, still active) (1)" in html and "All (4)" in html
    expected = {
        "managed": "alice@example.com",
        "retired": "bob@example.com",
        "external": "partner@other.org",
        "unknown": "ghost@example.com",
    }
    for classification, account in expected.items():
        filtered = _text(client.get(f"{base}?classification={classification}"))
        for other in expected.values():
            assert (other in filtered) == (other == account), (classification, other)
    assert "No accounts." in _text(client.get(f"{base}?classification=retired&link=unlinked"))
    listing = _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    assert 'class="badge badge-synced">synced<' in listing
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert today in listing and ">4</td>" in listing
    activity = _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    assert "sync completed" in activity and "account retired detected" in activity
    assert "sync started" in activity  # the console's own audit row


def test_a_refused_credential_shows_needs_reauth_and_a_busy_sync_is_not_started_twice(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers_fixture(console_app, client, tenant)
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    FakeDiscovery.fail = True
    failed = client.post(base + "/sync", data={"csrf_token": token})
    assert failed.status_code == 303
    html = _text(client.get(failed.headers["Location"]))
    assert "needs re-auth" in html and "HTTP 401 from the service" in html
    assert "No accounts." in html  # a failed run changes nothing
    listing = _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    assert 'class="badge badge-needs_reauth">needs re-auth<' in listing
    # storing a new credential clears needs_reauth
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    assert 'badge-active">active<' in _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    prov = SqlProvisioningStore(_engine(console_app))
    prov.start_run(tenant.id, integration, "discover")  # someone else's run in progress
    assert 'badge-syncing">syncing<' in _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    busy = client.post(base + "/sync", data={"csrf_token": token})
    assert "notice=sync_busy" in busy.headers["Location"]
    assert len(FakeDiscovery.seen_authorization) == 1


def test_a_connector_that_cannot_list_accounts_has_no_sync_button(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    base = _base(tenant, _service(console_app, tenant, "Paper", connector="manual"))
    html = _text(client.get(base))
    assert "Sync now" not in html and "cannot list accounts" in html
    posted = client.post(base + "/sync", data={"csrf_token": page_token(client, base)})
    assert "notice=sync_unsupported" in posted.headers["Location"]


# -- activity -----------------------------------------------------------------------------


def test_activity_shows_provisioning_events_filterable_by_user_and_time(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    alice = create_user(client, tenant, "alice@example.com")
    create_user(client, tenant, "bob<b>@example.com")
    path = f"/admin/o/{tenant.slug}/activity"
    html = _text(client.get(path))
    assert "scim user created" in html and "alice@example.com" in html
    assert "bob&lt;b&gt;@example.com" in html and "bob<b>" not in html
    only_alice = _text(client.get(path + "?user=ALICE@example.com"))
    assert "alice@example.com" in only_alice and "bob&lt;b&gt;" not in only_alice
    by_id = _text(client.get(path + f"?user={alice['id']}"))
    assert "alice@example.com" in by_id and "bob&lt;b&gt;" not in by_id
    assert "No user named" in _text(client.get(path + "?user=nobody@example.com"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    later = _text(client.get(path + f"?since={tomorrow}"))
    assert "No provisioning events." in later and "scim user created" not in later
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "scim user created" in _text(client.get(path + f"?since={today}&until={today}"))
    other = new_tenant(console_app)
    create_user(console_app.test_client(), other, "outsider@example.com")
    assert "outsider@example.com" not in _text(client.get(path))


def test_a_users_page_shows_their_recent_provisioning_events(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers_fixture(console_app, client, tenant)
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    client.post(base + "/sync", data={"csrf_token": token})
    users = _text(client.get(f"/admin/o/{tenant.slug}/users?q=bob"))
    bob = re.search(rf'href="(/admin/o/{tenant.slug}/users/[^"]+)"', users)
    assert bob
    html = _text(client.get(bob.group(1)))
    assert "Recent provisioning events" in html
    assert "scim user created" in html and "account retired detected" in html
    assert "alice@example.com" not in html.split("Recent provisioning events")[1]


# -- OAuth client settings ---------------------------------------------------------------------


def _oauth_form(**overrides: str) -> dict[str, str]:
    return {
        "kind": "oauth_authorization_code",
        "authorize_url": "https://login.example.com/oauth2/authorize",
        "token_url": "https://login.example.com/oauth2/token",
        "client_id": "scimserver-client",
        "client_secret": CLIENT_SECRET,
        "scopes": "users.read  users.write",
        "token_auth_method": "client_secret_post",
        **overrides,
    }


def _vault(app: Any) -> CredentialVault:
    return CredentialVault(
        SqlCredentialStore(_engine(app)), app.extensions["scimserver_admin"].keyring
    )


def test_oauth_client_form_stores_the_client_and_never_shows_its_secret(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    posted = client.post(
        base + "/credential", data={"csrf_token": page_token(client, base), **_oauth_form()}
    )
    assert posted.status_code == 303
    html = _text(client.get(posted.headers["Location"]))
    assert "The OAuth client was stored" in html and "waiting for sign-in" in html
    assert ">Integrate</button>" in html
    assert "https://scim.example.com/oauth/callback" in html  # the redirect URI to register
    # the form is prefilled with the public settings, never the secret
    assert 'value="scimserver-client"' in html
    assert 'value="https://login.example.com/oauth2/token"' in html
    assert 'value="users.read users.write"' in html
    assert re.search(r'<input id="oa-secret" name="client_secret" type="password"[^>]*>', html)
    assert not re.search(r'name="client_secret"[^>]*value=', html)
    assert "A client secret is stored. Leave this empty to keep it" in html
    assert CLIENT_SECRET not in html and CLIENT_SECRET not in _database_text(console_app)
    stored = _vault(console_app).get(integration)
    assert isinstance(stored, OAuthAuthorizationCode)
    assert stored.client_secret == CLIENT_SECRET
    assert stored.scopes == ("users.read", "users.write")
    assert stored.token_auth_method == "client_secret_post"
    assert "credential set" in _text(client.get(f"/admin/o/{tenant.slug}/activity"))


def test_oauth_client_resubmitted_with_an_empty_secret_keeps_the_stored_one(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(base + "/credential", data={"csrf_token": token, **_oauth_form()})
    changed = client.post(
        base + "/credential",
        data={
            "csrf_token": token,
            **_oauth_form(
                kind="oauth_client_credentials", client_secret="", scopes="directory.read"
            ),
        },
    )
    assert changed.status_code == 303
    stored = _vault(console_app).get(integration)
    assert isinstance(stored, OAuthClientCredentials)
    assert stored.client_secret == CLIENT_SECRET and stored.scopes == ("directory.read",)
    html = _text(client.get(base))
    assert "oauth client credentials" in html and ">Integrate</button>" not in html


def test_oauth_client_form_explains_a_refused_field_and_stores_nothing(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    token = page_token(client, base)
    cases = {
        "Token URL must be an https:// URL": (
            "token_url",
            _oauth_form(token_url="http://login.example.com/token"),
        ),
        "Authorization URL is required": ("authorize_url", _oauth_form(authorize_url="")),
        "Client secret is required": ("client_secret", _oauth_form(client_secret="")),
        "Client ID is required": ("client_id", _oauth_form(client_id=" ")),
    }
    for message, (field, form) in cases.items():
        refused = client.post(base + "/credential", data={"csrf_token": token, **form})
        html = _text(refused)
        assert refused.status_code == 400, message
        assert f"The credential was not stored: {message}" in html
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', html), field
        assert "<details open>\n    <summary>Set an OAuth client" in html
        assert CLIENT_SECRET not in html
        # what was typed is kept for the next try, except the secret
        assert f'value="{form["token_url"]}"' in html
        assert f'value="{form["client_id"]}"' in html
    unsigned = client.post(base + "/credential", data=_oauth_form())
    assert unsigned.status_code == 400 and CLIENT_SECRET not in _text(unsigned)
    assert _vault(console_app).describe(integration).kind is None
    assert CLIENT_SECRET not in _database_text(console_app)


# -- accounts list paging ------------------------------------------------------------------------


def test_account_pages_walk_every_account_once_keeping_the_filters(
    client: Any, console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.admin import views_integrations

    monkeypatch.setattr(views_integrations, "SHOWN_ACCOUNTS", 7)
    integration = _service(console_app, tenant, "Wiki")
    now = datetime.now(UTC)
    with _engine(console_app).begin() as conn:
        conn.execute(
            sa.insert(metadata.tables["service_accounts"]),
            [
                {
                    "organization_id": tenant.id,
                    "integration_id": integration,
                    "account_id": f"acct{i:02d}@{'other.org' if i % 2 else 'example.com'}",
                    "link_status": "unlinked",
                    "classification": "external" if i % 2 else "unknown",
                    "remote_status": "active",
                    "created": now,
                    "updated": now,
                }
                for i in range(30)
            ],
        )
    url: str | None = _base(tenant, integration) + "?classification=external&link=unlinked"
    seen: list[str] = []
    pages = 0
    while url and pages < 10:
        html = _text(client.get(url))
        pages += 1
        assert "External (15)" in html and "Unknown (orphan) (15)" in html  # counts stay
        assert "All (30)" in html
        seen += re.findall(r"<tr><td>(acct\d\d@[\w.]+)", html)
        if pages > 1:
            assert "« First page</a>" in html
        found = re.search(r'<a href="([^"]+)" rel="next">Next page', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert "classification=external" in url and "link=unlinked" in url
    assert pages == 3
    assert seen == [f"acct{i:02d}@other.org" for i in range(1, 30, 2)]


def test_discovery_fills_last_access_time_which_the_page_and_csv_export_show(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers_fixture(console_app, client, tenant)
    signed_in = datetime(2026, 11, 30, 8, 15, 0, tzinfo=timezone(timedelta(hours=9)))
    FakeDiscovery.accounts = [
        RemoteAccount("r1", "alice@example.com", email="alice@example.com", last_access=signed_in),
        RemoteAccount("r2", "bob@example.com", email="bob@example.com"),  # never reported
    ]
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    assert client.post(base + "/sync", data={"csrf_token": token}).status_code == 303
    page = _text(client.get(base))
    assert "Last access (UTC)" in page and "2026-11-29 23:15" in page  # 08:15 JST in UTC
    export = f"/admin/o/{tenant.slug}/csv/export?kind=service-accounts"
    exported = client.get(export).get_data(as_text=True)
    assert '"Wiki","alice@example.com","alice@example.com","2026-11-29T23:15:00Z"' in exported
    assert '"Wiki","bob@example.com","bob@example.com",""' in exported
    # A download is the only way out for it: an upload that carries another time
    # changes nothing, and the next discovery that reports none keeps the one stored.
    upload = exported.replace('""', '"UPDATE"', 1).replace(
        "2026-11-29T23:15:00Z", "2020-01-01T00:00:00Z"
    )
    preview = _text(upload_csv(client, tenant, upload.encode(), "service-accounts"))
    assert re.search(r"<strong>1</strong> unchanged", preview)
    assert "Nothing to start: no row would change (1 unchanged, 1 skipped" in preview
    FakeDiscovery.accounts = [RemoteAccount("r1", "alice@example.com", email="alice@example.com")]
    assert client.post(base + "/sync", data={"csrf_token": token}).status_code == 303
    assert "2026-11-29T23:15:00Z" in client.get(export).get_data(as_text=True)


def test_a_connector_with_an_oauth_preset_needs_only_the_client_id_and_secret(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """Google Workspace: the endpoints and scope are filled in; the consent screen is
    asked for a refresh token (access_type=offline, prompt=consent)."""
    integration = _service(console_app, tenant, "Google", connector="google_workspace")
    base = _base(tenant, integration)
    page = _text(client.get(base))
    assert 'value="https://accounts.google.com/o/oauth2/v2/auth"' in page
    assert 'value="https://www.googleapis.com/auth/admin.directory.user"' in page
    form = {
        "kind": "oauth_authorization_code",
        "client_id": "g-client",
        "client_secret": CLIENT_SECRET,
    }
    posted = client.post(
        base + "/credential", data={"csrf_token": page_token(client, base), **form}
    )
    assert posted.status_code == 303
    stored = _vault(console_app).get(integration)
    assert isinstance(stored, OAuthAuthorizationCode)
    assert stored.token_url == "https://oauth2.googleapis.com/token"
    assert stored.scopes == ("https://www.googleapis.com/auth/admin.directory.user",)
    integrate = client.post(base + "/integrate", data={"csrf_token": page_token(client, base)})
    start = re.search(
        r'href="(/admin/integrations/\d+/oauth/start\?ticket=[\w-]+)"', _text(integrate)
    )
    assert start is not None
    location = client.get(start.group(1)).headers["Location"]
    assert location.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert "access_type=offline" in location and "prompt=consent" in location
    assert "client_id=g-client" in location and "code_challenge_method=S256" in location


def test_microsoft_365_asks_for_the_tenant_then_needs_only_the_client_id_and_secret(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "M365", connector="microsoft_365")
    base = _base(tenant, integration)
    page = _text(client.get(base))
    assert "fills in its endpoints once the integration has tenant_id" in page
    assert "--setting tenant_id=" in page
    SqlProvisioningStore(_engine(console_app)).bind(
        tenant.id, integration, "microsoft_365", {"tenant_id": "contoso.onmicrosoft.com"}
    )
    token_url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert f'value="{token_url}"' in _text(client.get(base))
    form = {
        "kind": "oauth_client_credentials",
        "client_id": "app-id",
        "client_secret": CLIENT_SECRET,
    }
    posted = client.post(
        base + "/credential", data={"csrf_token": page_token(client, base), **form}
    )
    assert posted.status_code == 303
    stored = _vault(console_app).get(integration)
    assert isinstance(stored, OAuthClientCredentials)
    assert stored.token_url == token_url
    assert stored.scopes == ("https://graph.microsoft.com/.default",)


def test_what_a_connector_says_about_a_sync_shows_in_activity(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers_fixture(console_app, client, tenant)
    FakeDiscovery.notes = ["last sign-in times are not available: no premium licence"]
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    assert client.post(base + "/sync", data={"csrf_token": token}).status_code == 303
    activity = _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    assert "notes: last sign-in times are not available: no premium licence" in activity


def test_a_stored_google_service_account_shows_its_email_and_never_its_key(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from scimcore.adapters.connectors.credentials import GoogleServiceAccount

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    integration = _service(console_app, tenant, "Google", connector="google_workspace")
    _vault(console_app).put(
        integration,
        GoogleServiceAccount(
            client_email="sync@proj.iam.gserviceaccount.com",
            private_key_id="abc123",
            private_key=pem,
            subject="admin@example.com",
        ),
    )
    page = client.get(_base(tenant, integration))
    html = _text(page)
    assert page.status_code == 200 and "sync@proj.iam.gserviceaccount.com" in html
    assert "PRIVATE KEY" not in html and "PRIVATE KEY" not in _database_text(console_app)


def test_microsoft_365_offers_admin_consent_and_the_callback_says_what_happened(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "M365", connector="microsoft_365")
    base = _base(tenant, integration)
    SqlProvisioningStore(_engine(console_app)).bind(
        tenant.id, integration, "microsoft_365", {"tenant_id": "contoso.onmicrosoft.com"}
    )
    assert "Grant admin consent" not in _text(client.get(base))  # no client ID yet
    _vault(console_app).put(
        integration,
        OAuthClientCredentials(
            token_url="https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
            client_id="app-id",
            client_secret=CLIENT_SECRET,
            scopes=("https://graph.microsoft.com/.default",),
        ),
    )
    page = _text(client.get(base))
    link = re.search(
        r'href="(https://login\.microsoftonline\.com/[^"]+)"[^>]*>Grant admin consent', page
    )
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?")
    assert "client_id=app-id" in url and f"state=consent-{integration}" in url
    assert "redirect_uri=https%3A%2F%2Fscim.example.com%2Foauth%2Fcallback" in url
    granted = client.get(f"/oauth/callback?admin_consent=True&tenant=x&state=consent-{integration}")
    assert granted.status_code == 200 and "granted the app its permissions" in _text(granted)
    refused = client.get("/oauth/callback?admin_consent=False&error=access_denied&state=consent-1")
    assert refused.status_code == 400 and "access_denied" in _text(refused)


def test_a_service_account_key_file_is_uploaded_on_the_google_page(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    import io
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key_file = json.dumps(
        {
            "type": "service_account",
            "client_email": "sync@proj.iam.gserviceaccount.com",
            "private_key_id": "abc123",
            "private_key": pem,
        }
    ).encode()
    wiki = _service(console_app, tenant, "Wiki")
    assert "Set a service account" not in _text(client.get(_base(tenant, wiki)))
    integration = _service(console_app, tenant, "Google", connector="google_workspace")
    base = _base(tenant, integration)
    page = _text(client.get(base))
    assert "Set a service account (domain-wide delegation)" in page
    assert "gmail.settings.basic" in page  # the scopes to grant, shown

    def upload(data: bytes, subject: str = "admin@example.com") -> Any:
        form = {
            "csrf_token": page_token(client, base),
            "kind": "google_service_account",
            "subject": subject,
            "key_file": (io.BytesIO(data), "key.json"),
        }
        return client.post(base + "/credential", data=form, content_type="multipart/form-data")

    refused = upload(b"not json at all")
    assert refused.status_code == 400 and "not JSON" in _text(refused)
    assert _vault(console_app).describe(integration).kind is None  # nothing stored
    stored = upload(key_file)
    assert stored.status_code == 303
    info = _vault(console_app).describe(integration)
    assert info.kind == "google_service_account"
    assert info.hints["client_email"] == "sync@proj.iam.gserviceaccount.com"
    assert "gmail.settings.basic" in info.hints["scopes"]
    html = _text(client.get(stored.headers["Location"]))
    assert "PRIVATE KEY" not in html and "PRIVATE KEY" not in _database_text(console_app)


def test_a_bad_totp_secret_on_the_integration_page_marks_the_totp_field(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _service(console_app, tenant, "Portal")
    base = _base(tenant, integration)
    refused = client.post(
        base + "/credential",
        data={
            "csrf_token": page_token(client, base),
            "kind": "id_password",
            "username": "admin@example.com",
            "secret": PASSWORD,
            "totp_secret": "not base32 !!",
        },
    )
    html = _text(refused)
    assert refused.status_code == 400 and "The TOTP secret is not valid base32" in html
    (invalid,) = re.findall(r'<input [^>]*aria-invalid="true"[^>]*>', html)
    assert 'name="totp_secret"' in invalid and PASSWORD not in html


def test_the_oauth_result_page_leads_back_to_the_integration_in_the_console(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """It was an unstyled dead end ("You can close this window")."""
    integration = _service(console_app, tenant, "Google")
    done = client.get(f"/oauth/result?integration={integration}")
    html = _text(done)
    assert done.status_code == 200 and "You can close" not in html
    assert 'rel="stylesheet" href="/static/admin.css"' in html
    back = re.search(r'<a class="button" href="([^"]+)">Back to the integration</a>', html)
    assert back and back.group(1) == f"/admin/integrations/{integration}?connected=1"
    landed = client.get(back.group(1))
    assert landed.status_code == 303
    assert landed.headers["Location"].startswith(_base(tenant, integration))
    page_html = _text(client.get(landed.headers["Location"]))
    assert "The service is connected" in page_html and "Sync now" in page_html
    failed = _text(client.get(f"/oauth/result?integration={integration}&error=access_denied"))
    assert f'href="/admin/integrations/{integration}"' in failed and "Press Integrate" in failed
    # another organization's integration, or none: the same 404
    other = new_tenant(console_app)
    theirs = _service(console_app, other, "Theirs")
    for number in (theirs, 999_999):
        assert client.get(f"/admin/integrations/{number}").status_code == 404


def test_accounts_linked_by_csv_are_counted_and_classified_without_a_sync(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """They showed "—" on the list and "All (2)" with every category at 0."""
    from .admin_support import start_import

    scim = console_app.test_client()
    for name in ("stays@example.com", "leaves@example.com"):
        create_user(scim, tenant, name)
    create_service(console_app, tenant, "Portal", "manual")
    rows = [
        '"operation","serviceDisplayName","userId","accountId"',
        '"CREATE","Portal","stays@example.com","stays"',
        '"CREATE","Portal","leaves@example.com","leaves"',
    ]
    data = ("\n".join(rows) + "\n").encode()
    start_import(client, _text(upload_csv(client, tenant, data, "service-accounts")))
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        (portal,) = [i for i in session.integrations() if i.display_name == "Portal"]
    listing = _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    (row,) = [r for r in re.findall(r"<tr>.*?</tr>", listing, re.S) if ">Portal<" in r]
    assert row.rstrip().endswith("<td>2</td></tr>")
    base = _base(tenant, portal.id)
    page_html = _text(client.get(base))
    assert "All (2)" in page_html and "Managed (2)" in page_html
    # the person leaves: their account is a leaver's at once, no sync needed
    leaver = next(u for u in _users(scim, tenant) if u["userName"] == "leaves@example.com")
    scim.patch(
        f"/scim/v2/organizations/{tenant.slug}/Users/{leaver['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    page_html = _text(client.get(base))
    assert "Managed (1)" in page_html and "Retired (leaver, still active) (1)" in page_html
    retired = _text(client.get(base + "?classification=retired"))
    assert ">leaves<" in retired and ">stays<" not in retired


def _users(scim: Any, tenant: Tenant) -> list[dict[str, Any]]:
    response = scim.get(
        f"/scim/v2/organizations/{tenant.slug}/Users",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    return list(response.get_json()["Resources"])


def test_an_integrations_settings_are_edited_on_its_page_by_the_stores_rules(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """License profiles could only be given when a service was made from the CLI, so a
    console-made cybozu.com could not take the sample CSV's licenseProfile."""
    from .admin_support import start_import

    create_user(console_app.test_client(), tenant, "hanako@example.com")
    create_service(console_app, tenant, "cybozu.com", "cybozu")
    create_service(console_app, tenant, "Taken", "manual")
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        (cybozu,) = [i for i in session.integrations() if i.display_name == "cybozu.com"]
    base = _base(tenant, cybozu.id)
    token = page_token(client, base)

    def save(**form: str) -> Any:
        data = {"csrf_token": token, "on_delete": "deactivate_remote", **form}
        return client.post(base + "/settings", data=data)

    saved = save(display_name="サイボウズ", license_profiles="Garoon\r\nkintone+Garoon\r\n")
    assert saved.status_code == 303 and "notice=settings_saved" in saved.headers["Location"]
    rows = '"operation","serviceDisplayName","userId","accountId","licenseProfile"\n'
    rows += '"CREATE","サイボウズ","hanako@example.com","hanako","Garoon"\n'
    job = _text(
        start_import(client, _text(upload_csv(client, tenant, rows.encode(), "service-accounts")))
    )
    assert re.search(r"<strong>1</strong> created", job), job
    taken = save(display_name="Taken", license_profiles="Garoon")
    assert taken.status_code == 400 and "already exists" in _text(taken)
    held = save(display_name="サイボウズ", license_profiles="kintone+Garoon")
    assert held.status_code == 400
    assert "The license profile &#39;Garoon&#39; is held by 1 account(s)" in _text(held)
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        (now,) = [i for i in session.integrations() if i.id == cybozu.id]
    assert now.display_name == "サイボウズ"
    assert now.settings.license_profiles == ("Garoon", "kintone+Garoon")
    # delete: asks first, then forgets the integration and its accounts
    asked = _text(client.get(base + "/delete"))
    assert "Delete the integration サイボウズ?" in asked and "1 account record(s)" in asked
    gone = client.post(base + "/delete", data={"csrf_token": token, "confirm": "yes"})
    assert gone.status_code == 303
    listing = _text(client.get(gone.headers["Location"]))
    assert "was deleted" in listing and f'integrations/{cybozu.id}"' not in listing
    assert client.get(base).status_code == 404
    assert "integration deleted" in _text(client.get(f"/admin/o/{tenant.slug}/activity"))


def test_cli_services_update_adds_license_profiles_and_delete_asks_first(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner

    from scimserver.cli import main

    from .admin_support import make_app

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    tenant = new_tenant(make_app(database_url))
    runner = CliRunner()
    made = runner.invoke(
        main, ["services", "create", tenant.slug, "M365", "--kind", "microsoft_365"]
    )
    assert made.exit_code == 0, made.output
    update = ["services", "update", tenant.slug, "M365", "--json"]
    added = runner.invoke(main, [*update, "--add-license-profile", "E3 標準", "--rename", "Office"])
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    assert data["display_name"] == "Office" and data["license_profiles"] == ["E3 標準"]
    kept = runner.invoke(main, ["services", "delete", tenant.slug, "Office"], input="n\n")
    assert kept.exit_code != 0 and "Aborted" in kept.output
    listed = runner.invoke(main, ["services", "list", tenant.slug])
    assert "Office" in listed.output
    deleted = runner.invoke(main, ["services", "delete", tenant.slug, "Office", "--yes"])
    assert deleted.exit_code == 0 and "0 account(s) forgotten" in deleted.output
    assert "Office" not in runner.invoke(main, ["services", "list", tenant.slug]).output


def test_provisioning_is_switched_and_the_connection_tested_on_the_page(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """Both were CLI-only (``services connect --provisioning``, ``--test``)."""
    integration = _service(console_app, tenant, "Wiki")
    base = _base(tenant, integration)
    token = page_token(client, base)
    client.post(
        base + "/credential", data={"csrf_token": token, "kind": "bearer", "secret": BEARER}
    )
    assert "Provisioning: <strong>off</strong>" in _text(client.get(base))
    on = client.post(base + "/provisioning", data={"csrf_token": token, "enabled": "on"})
    assert on.status_code == 303
    assert "Provisioning is on" in _text(client.get(on.headers["Location"]))
    binding = SqlProvisioningStore(_engine(console_app)).binding(tenant.id, integration)
    assert binding is not None and binding.integration.settings.provisioning_enabled
    tested = _text(client.post(base + "/test", data={"csrf_token": token}))
    assert "Connection test: it works (signed in as svc-admin)" in tested
    FakeDiscovery.fail = True
    failed = _text(client.post(base + "/test", data={"csrf_token": token}))
    assert "Connection test: it failed (HTTP 401 from the service)" in failed
    assert BEARER not in failed
    off = client.post(base + "/provisioning", data={"csrf_token": token, "enabled": "off"})
    assert "Provisioning is off" in _text(client.get(off.headers["Location"]))
    activity = _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    assert "provisioning switched" in activity and "connection tested" in activity


def test_cli_services_provisioning_switches_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from scimserver.cli import main

    from .admin_support import make_app

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    runner = CliRunner()
    runner.invoke(main, ["services", "create", tenant.slug, "Wiki", "--kind", "scim2"])
    manual = runner.invoke(main, ["services", "provisioning", tenant.slug, "Wiki", "on"])
    assert manual.exit_code == 0 and "(connector manual)" in manual.output
    missing = runner.invoke(main, ["services", "provisioning", tenant.slug, "Nope", "on"])
    assert missing.exit_code != 0 and "no service named 'Nope'" in missing.output
    integration = _service(app, tenant, "Other")
    done = runner.invoke(main, ["services", "provisioning", tenant.slug, "Other", "on"])
    assert done.exit_code == 0 and "provisioning on" in done.output
    binding = SqlProvisioningStore(_engine(app)).binding(tenant.id, integration)
    assert binding is not None and binding.integration.settings.provisioning_enabled
