"""The Google Workspace connector against a local Directory API held to Google's
discovery document (tests/connectors/google_directory.py): the contract kit, paging,
last sign-in times, quotas, and a user created over SCIM reaching Google and being
suspended there on deactivation, on both databases.

``--live``: with ``GOOGLE_WORKSPACE_TOKEN`` (an access token with the
admin.directory.user scope) and ``GOOGLE_WORKSPACE_DOMAIN`` (a domain of the test
account) in the environment, the contract kit also runs against the real API.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from scimcore.adapters.connectors import BearerAuth, Connector, ConnectorContext, load
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.connector import AccountRef, AccountSpec
from scimcore.provisioning.errors import AuthenticationFailed, PermanentError, RateLimited

from .conftest import Env
from .google_directory import (
    GMAIL_SCOPE,
    READONLY_SCOPE,
    USER_SCOPE,
    DirectoryFake,
    directory_server,
)


@pytest.fixture
def google() -> Iterator[DirectoryFake]:
    with directory_server(DirectoryFake()) as fake:
        fake.grant("admin-token", USER_SCOPE)
        yield fake
        assert fake.violations == [], "requests Google would refuse"


def _context(
    fake: DirectoryFake, token: str = "admin-token", **settings: object
) -> ConnectorContext:
    return ConnectorContext("org", 1, {"api_base": fake.url, **settings}, BearerAuth(token))


class TestGoogleWorkspaceOnTheDirectoryFake(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("google_workspace")

    @pytest.fixture
    def context(self, google: DirectoryFake) -> ConnectorContext:
        return _context(google)


@pytest.mark.skipif(
    not (os.environ.get("GOOGLE_WORKSPACE_TOKEN") and os.environ.get("GOOGLE_WORKSPACE_DOMAIN")),
    reason="--live: set GOOGLE_WORKSPACE_TOKEN and GOOGLE_WORKSPACE_DOMAIN to run against Google",
)
class TestGoogleWorkspaceLive(ConnectorContract):  # pragma: no cover - needs a tenant
    login_domain = os.environ.get("GOOGLE_WORKSPACE_DOMAIN", "example.com")

    @pytest.fixture
    def connector(self) -> Connector:
        return load("google_workspace")

    @pytest.fixture
    def context(self) -> ConnectorContext:
        return ConnectorContext(
            "org", 1, {}, BearerAuth(os.environ["GOOGLE_WORKSPACE_TOKEN"]), timeout=30
        )


def test_discovery_reads_every_page_with_last_sign_in_and_state(google: DirectoryFake) -> None:
    for n in range(230):
        google.add(f"user{n:03d}@example.com")
    google.add("signed.in@example.com", lastLoginTime="2026-11-30T23:15:00.000Z")
    google.add("gone@example.com", suspended=True)
    google.add("archived@example.com", archived=True)
    accounts = list(load("google_workspace").iter_accounts(_context(google), page_size=100))
    assert len(accounts) == 233
    lists = [t for m, t in google.requests if "/users?" in t]
    assert len(lists) == 3 and "pageToken=" in lists[1]
    by_login = {a.login: a for a in accounts}
    assert by_login["signed.in@example.com"].last_access == datetime(
        2026, 11, 30, 23, 15, tzinfo=UTC
    )
    assert by_login["user000@example.com"].last_access is None  # 1970: never signed in
    assert by_login["gone@example.com"].status == "suspended"
    assert by_login["archived@example.com"].status == "suspended"
    assert by_login["user001@example.com"].status == "active"


def test_create_sends_what_users_insert_requires_and_a_taken_address_already_exists(
    google: DirectoryFake,
) -> None:
    connector = load("google_workspace")
    spec = AccountSpec("new.person@example.com", given_name="New", family_name="Person")
    made = connector.create_account(
        _context(google, org_unit_path="/Staff"), spec, idempotency_key="k"
    )
    stored = google.by_email("new.person@example.com")
    assert stored is not None and stored["orgUnitPath"] == "/Staff"
    assert stored["name"]["givenName"] == "New" and made.remote_id == stored["id"]
    from scimcore.provisioning.errors import AlreadyExists

    with pytest.raises(AlreadyExists) as taken:
        connector.create_account(_context(google), spec, idempotency_key="k2")
    assert taken.value.existing is not None and taken.value.existing.remote_id == stored["id"]


def test_deactivate_suspends_and_reactivate_lifts_it(google: DirectoryFake) -> None:
    user = google.add("leaver@example.com")
    connector, ctx = load("google_workspace"), _context(google)
    ref = AccountRef(remote_id=user["id"])
    connector.deactivate_account(ctx, ref, idempotency_key="d")
    assert google.users[user["id"]]["suspended"] is True
    calls = len(google.requests)
    connector.deactivate_account(ctx, ref, idempotency_key="d2")  # already: only a read
    assert [m for m, _ in google.requests[calls:]] == ["GET"]
    connector.reactivate_account(ctx, ref, idempotency_key="r")
    assert google.users[user["id"]]["suspended"] is False


def test_quota_errors_wait_and_retry_rather_than_asking_for_a_new_sign_in(
    google: DirectoryFake,
) -> None:
    connector, ctx = load("google_workspace"), _context(google)
    google.throttle(1, status=403, reason="userRateLimitExceeded")
    with pytest.raises(RateLimited) as limited:
        list(connector.iter_accounts(ctx))
    assert limited.value.retry_after == 1.0
    google.throttle(1, status=429)
    with pytest.raises(RateLimited):
        connector.get_account(ctx, AccountRef(account_id="nobody@example.com"))


def test_a_read_only_grant_discovers_but_cannot_provision(google: DirectoryFake) -> None:
    google.grant("read-only", READONLY_SCOPE)
    google.add("someone@example.com")
    connector, ctx = load("google_workspace"), _context(google, token="read-only")
    assert [a.login for a in connector.iter_accounts(ctx)] == ["someone@example.com"]
    with pytest.raises(AuthenticationFailed, match="insufficient authentication scopes"):
        connector.create_account(ctx, AccountSpec("x@example.com"), idempotency_key="k")
    assert google.violations == [
        "403 insufficientPermissions: Request had insufficient authentication scopes."
    ]
    google.violations.clear()  # the refusal was the point


def test_a_user_created_over_scim_reaches_google_and_is_suspended_on_deactivation(
    any_env: Env, google: DirectoryFake
) -> None:
    integration = any_env.integration(
        "google_workspace", {"api_base": google.url}, auth=BearerAuth("admin-token")
    )
    login = f"okta.{uuid.uuid4().hex[:6]}@example.com"
    uid = any_env.create_user(login, name={"givenName": "Okta", "familyName": "User"})
    assert any_env.worker().run(until_idle=True, max_seconds=60).succeeded >= 1
    remote = google.by_email(login)
    assert remote is not None and remote["suspended"] is False
    assert remote["name"] == {"givenName": "Okta", "familyName": "User", "fullName": "Okta User"}
    link = any_env.prov.link(any_env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote["id"]
    any_env.set_active(uid, False)
    any_env.worker().run(until_idle=True, max_seconds=60)
    assert google.users[remote["id"]]["suspended"] is True


def test_only_googles_consent_url_asks_for_offline_access() -> None:
    from scimcore.adapters.connectors.credentials import OAuthAuthorizationCode
    from scimcore.adapters.connectors.oauth import authorization_url

    def url(authorize: str) -> str:
        cred = OAuthAuthorizationCode(
            authorize_url=authorize,
            token_url="https://token.example.com/token",
            client_id="c",
            client_secret="s",
            scopes=("a",),
        )
        return authorization_url(cred, state="st", code_challenge="cc", redirect_uri="https://r/cb")

    google = url("https://accounts.google.com/o/oauth2/v2/auth")
    assert "access_type=offline" in google and "prompt=consent" in google
    other = url("https://login.example.com/authorize")
    assert "access_type" not in other and "prompt" not in other


# -- a service account with domain-wide delegation: Gmail's POP/IMAP (mailProxyActive) ------


@pytest.fixture(scope="module")
def service_key() -> tuple[str, str]:
    """(private key PEM, public key PEM) of a test service account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _delegated(google: DirectoryFake, service_key: tuple[str, str], *scopes: str) -> Any:
    """GoogleDelegation over a vault holding the key file, with the delegation granted."""
    import json

    from scimcore.accounts import KeyRing
    from scimcore.adapters.connectors.credential_source import GoogleDelegation
    from scimcore.adapters.connectors.credentials import (
        CredentialVault,
        GoogleServiceAccount,
        MemoryCredentialStore,
    )

    private, public = service_key
    email = "scim-sync@project.iam.gserviceaccount.com"
    google.delegate(email, public, "key-1", *scopes)
    key_file = json.dumps(
        {
            "type": "service_account",
            "client_email": email,
            "private_key_id": "key-1",
            "private_key": private,
            "token_uri": f"{google.url}/token",
        }
    )
    google.add("admin@example.com")
    store = MemoryCredentialStore()
    store.add_integration(7, "org")
    vault = CredentialVault(store, KeyRing([KeyRing.generate_key()]))
    vault.put(
        7,
        GoogleServiceAccount.from_key_file(
            key_file, subject="admin@example.com", scopes=(USER_SCOPE,)
        ),
    )
    return GoogleDelegation(vault, 7)


def test_mail_proxy_active_turns_pop_and_imap_on_and_off_as_the_user(
    google: DirectoryFake, service_key: tuple[str, str]
) -> None:
    auth = _delegated(google, service_key, USER_SCOPE, GMAIL_SCOPE)
    ctx = ConnectorContext("org", 7, {"api_base": google.url, "gmail_api_base": google.url}, auth)
    connector = load("google_workspace")
    spec = AccountSpec("pop.user@example.com", extras={"mail_proxy_active": True})
    made = connector.create_account(ctx, spec, idempotency_key="k")
    mail = google.mail["pop.user@example.com"]
    assert mail["pop"]["accessWindow"] == "allMail" and mail["imap"]["enabled"] is True
    ref = AccountRef(remote_id=made.remote_id)
    off = AccountSpec("pop.user@example.com", extras={"mail_proxy_active": False})
    connector.update_account(ctx, ref, off, idempotency_key="k2")
    assert mail["pop"]["accessWindow"] == "disabled" and mail["imap"]["enabled"] is False
    writes = len([m for m, _ in google.requests if m == "PUT"])
    connector.update_account(ctx, ref, off, idempotency_key="k3")  # as wanted: reads only
    assert len([m for m, _ in google.requests if m == "PUT"]) == writes


def test_mail_proxy_active_without_delegation_fails_before_writing_anything(
    google: DirectoryFake,
) -> None:
    spec = AccountSpec("nodelegation@example.com", extras={"mail_proxy_active": True})
    with pytest.raises(PermanentError, match="domain-wide delegation"):
        load("google_workspace").create_account(_context(google), spec, idempotency_key="k")
    assert google.by_email("nodelegation@example.com") is None


def test_a_delegation_without_the_gmail_scope_is_a_clear_authentication_failure(
    google: DirectoryFake, service_key: tuple[str, str]
) -> None:
    auth = _delegated(google, service_key, USER_SCOPE)  # no gmail.settings.basic
    ctx = ConnectorContext("org", 7, {"api_base": google.url, "gmail_api_base": google.url}, auth)
    spec = AccountSpec("scoped@example.com", extras={"mail_proxy_active": True})
    with pytest.raises(AuthenticationFailed, match="domain-wide delegation"):
        load("google_workspace").create_account(ctx, spec, idempotency_key="k")


def test_an_update_moves_the_user_to_the_integrations_organizational_unit(
    google: DirectoryFake,
) -> None:
    user = google.add("mover@example.com", name={"givenName": "M", "familyName": "V"})
    connector = load("google_workspace")
    spec = AccountSpec("mover@example.com", given_name="M", family_name="V")
    ref = AccountRef(remote_id=user["id"])
    connector.update_account(_context(google), ref, spec, idempotency_key="k")
    assert google.users[user["id"]]["orgUnitPath"] == "/"  # no setting: left alone
    connector.update_account(
        _context(google, org_unit_path="/Staff"), ref, spec, idempotency_key="k2"
    )
    assert google.users[user["id"]]["orgUnitPath"] == "/Staff"
