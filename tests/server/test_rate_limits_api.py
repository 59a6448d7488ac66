"""Rate limits at the HTTP boundary (Flask test client, SQLite and PostgreSQL): failed
authentications per client address on the SCIM API, the console's sign-in and the
OAuth callback; requests per organization.

The limits are small here, and their window (10^9 s, until 2033) long enough that no
test straddles a window's end. The request limiter adds its batches when the test says
so (``flush``), as its background thread does in the service.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from scimcore import issue_token
from scimcore.errors import ERROR_SCHEMA
from scimcore.ratelimit import RateLimits
from scimserver import Settings, create_app
from scimserver.wiring import build
from tests.conftest import JWT_SECRET, make_jwt

from .admin_support import PASSWORD, SECRET_KEY, csrf_from, new_admin

FAILURES = 3
REQUESTS = 20
WINDOW = 10**9


def an_address() -> dict[str, str]:
    """A client address of its own for each test: on PostgreSQL the counters of one
    test session share a database."""
    return {"REMOTE_ADDR": "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))}


@pytest.fixture
def attacker() -> dict[str, str]:
    return an_address()


@pytest.fixture
def idp() -> dict[str, str]:
    return an_address()


def limited_app(database_url: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "database_url": database_url,
        "public_url": "https://scim.example.com",
        "secret_keys": (SECRET_KEY,),
        "jwt_key": JWT_SECRET,
        "jwt_issuer": "https://idp.example.com",
        "jwt_audience": "scim",
        "rate_limit_auth_failures": FAILURES,
        "rate_limit_auth_window": WINDOW,
        "rate_limit_org_requests": REQUESTS,
        "rate_limit_org_window": WINDOW,
        "rate_limit_org_batch": 2,
        **overrides,
    }
    settings = Settings(**options)
    parts = build(settings)
    limits = RateLimits(parts.rate_limit_store, settings.rate_limits(), background=False)
    return create_app(settings, store=parts.store, rate_limits=limits)


@pytest.fixture
def app(database_url: str) -> Any:
    return limited_app(database_url)


def new_org(app: Any) -> tuple[str, str]:
    store = app.extensions["scimcore"]["store"]
    org = store.create_organization(f"rl-{uuid.uuid4().hex[:10]}", "Rate limited")
    return org.slug, issue_token(store, org).token


def get(app: Any, slug: str, token: str, environ: dict[str, str], path: str = "/Users") -> Any:
    return app.test_client().get(
        f"/scim/v2/organizations/{slug}{path}",
        headers={"Authorization": f"Bearer {token}"},
        environ_base=environ,
    )


def guess() -> str:
    return "scim_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]


def assert_429(response: Any, *words: str) -> dict[str, Any]:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/scim+json")
    assert int(response.headers["Retry-After"]) > 0
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == "429"
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def block(app: Any, slug: str, environ: dict[str, str]) -> None:
    statuses = [get(app, slug, guess(), environ).status_code for _ in range(FAILURES)]
    assert statuses == [401] * FAILURES
    assert_429(get(app, slug, guess(), environ))


def test_invalid_tokens_past_the_limit_get_429_with_retry_after_and_a_scim_body(
    app: Any, attacker: dict[str, str]
) -> None:
    slug, _ = new_org(app)
    statuses = [get(app, slug, guess(), attacker).status_code for _ in range(FAILURES)]
    assert statuses == [401] * FAILURES
    refused = get(app, slug, guess(), attacker)
    address = attacker["REMOTE_ADDR"]
    body = assert_429(refused, address, "failed authentications", "Check the bearer token")
    assert f"retry after {refused.headers['Retry-After']} seconds" in body["detail"]
    # Missing and malformed headers are failures as well.
    assert_429(browser(app, attacker).get(f"/scim/v2/organizations/{slug}/Users"))


def test_a_blocked_address_is_refused_without_asking_the_database(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    slug, _ = new_org(app)
    block(app, slug, attacker)
    engine = app.extensions["scimcore"]["store"].engine
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    sa.event.listen(engine.pool, "checkout", checked_out)
    try:
        for _ in range(5):
            assert_429(get(app, slug, guess(), attacker))
        assert checkouts == []
        assert get(app, slug, guess(), idp).status_code == 401  # the probe does see a lookup
        assert checkouts != []
    finally:
        sa.event.remove(engine.pool, "checkout", checked_out)


def test_other_addresses_keep_working_while_one_is_blocked(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    slug, token = new_org(app)
    block(app, slug, attacker)
    assert get(app, slug, token, idp).status_code == 200
    assert get(app, slug, guess(), idp).status_code == 401


def test_a_credential_accepted_before_passes_a_blocked_address_and_a_guess_does_not(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    """An IdP's egress address may be shared with a failing client: the tenants whose
    tokens this process has accepted keep working; a token it never saw waits."""
    served, served_token = new_org(app)
    unseen, unseen_token = new_org(app)
    assert get(app, served, served_token, attacker).status_code == 200
    block(app, served, attacker)
    assert get(app, served, served_token, attacker).status_code == 200
    assert_429(get(app, unseen, unseen_token, attacker))
    assert get(app, unseen, unseen_token, idp).status_code == 200


def test_a_valid_jwt_passes_a_blocked_address(app: Any, attacker: dict[str, str]) -> None:
    slug, _ = new_org(app)
    block(app, slug, attacker)
    assert get(app, slug, make_jwt(org=slug), attacker).status_code == 200
    assert_429(get(app, slug, make_jwt(org=slug, aud="other"), attacker))


def test_a_token_revoked_meanwhile_no_longer_passes_a_blocked_address(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    slug, token = new_org(app)
    assert get(app, slug, token, attacker).status_code == 200
    block(app, slug, attacker)
    store = app.extensions["scimcore"]["store"]
    store.revoke_token(store.get_organization(slug).id)
    assert_429(get(app, slug, token, attacker))
    assert get(app, slug, token, idp).status_code == 401


def test_an_organization_over_its_request_limit_gets_429_and_another_does_not(
    app: Any, idp: dict[str, str]
) -> None:
    busy, busy_token = new_org(app)
    calm, calm_token = new_org(app)
    limits: RateLimits = app.extensions["scimcore"]["rate_limits"]
    statuses = []
    for _ in range(REQUESTS + 5):
        statuses.append(get(app, busy, busy_token, idp).status_code)
        limits.organizations.flush()  # what the background thread does
    assert statuses.count(200) > REQUESTS and statuses[-1] == 429
    assert set(statuses) == {200, 429}
    assert_429(get(app, busy, busy_token, idp), f"'{busy}'", f"{REQUESTS} in {WINDOW} seconds")
    assert get(app, calm, calm_token, idp).status_code == 200


def test_each_bulk_operation_counts_towards_the_organization_limit(
    app: Any, idp: dict[str, str]
) -> None:
    # One Bulk request of 1,000 operations counted as one request: an organization
    # could run its limit a thousandfold.
    slug, token = new_org(app)
    limits: RateLimits = app.extensions["scimcore"]["rate_limits"]
    operations = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"u{i}",
            "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"bulk-{i}@example.com",
            },
        }
        for i in range(REQUESTS + 5)
    ]
    bulk = app.test_client().post(
        f"/scim/v2/organizations/{slug}/Bulk",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": operations,
        },
        headers={"Authorization": f"Bearer {token}"},
        environ_base=idp,
    )
    assert bulk.status_code == 200, bulk.get_data(as_text=True)
    assert {op["status"] for op in bulk.get_json()["Operations"]} == {"201"}
    limits.organizations.flush()
    assert_429(get(app, slug, token, idp), f"'{slug}'")


def test_limits_of_zero_are_off(
    database_url: str, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    app = limited_app(database_url, rate_limit_auth_failures=0, rate_limit_org_requests=0)
    slug, token = new_org(app)
    limits: RateLimits = app.extensions["scimcore"]["rate_limits"]
    assert {get(app, slug, guess(), attacker).status_code for _ in range(FAILURES * 3)} == {401}
    for _ in range(REQUESTS * 2):
        assert get(app, slug, token, idp).status_code == 200
        limits.organizations.flush()


# -- the console's sign-in and the OAuth callback share the failure limit -------------------


def browser(app: Any, environ: dict[str, str]) -> Any:
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def sign_in_as(client: Any, email: str, password: str) -> Any:
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"csrf_token": token, "email": email, "password": password}
    )


def test_one_address_trying_many_emails_is_refused_after_the_limit(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    """The console's own throttle counts per email; the address-wide limit stops a
    password spray across many emails."""
    admin = new_admin(app)
    client = browser(app, attacker)
    for i in range(FAILURES):
        assert sign_in_as(client, f"user{i}@example.com", "guess").status_code == 401
    refused = sign_in_as(client, f"user{FAILURES}@example.com", "guess")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in refused.get_data(as_text=True)
    assert sign_in_as(client, admin, PASSWORD).status_code == 429  # no password check
    other = browser(app, idp)
    assert sign_in_as(other, admin, PASSWORD).status_code == 302


def test_failed_sign_ins_and_scim_failures_share_one_budget(
    app: Any, attacker: dict[str, str]
) -> None:
    slug, _ = new_org(app)
    block(app, slug, attacker)
    client = browser(app, attacker)
    assert sign_in_as(client, new_admin(app), PASSWORD).status_code == 429


def test_guessed_oauth_states_are_refused_after_the_limit(
    app: Any, attacker: dict[str, str], idp: dict[str, str]
) -> None:
    client = browser(app, attacker)
    for _ in range(FAILURES):
        answer = client.get(f"/oauth/callback?code=x&state={uuid.uuid4().hex}")
        assert answer.status_code == 400
    refused = client.get(f"/oauth/callback?code=x&state={uuid.uuid4().hex}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in refused.get_data(as_text=True)
    start = client.get("/admin/integrations/1/oauth/start?ticket=guess")
    assert start.status_code == 429
    assert browser(app, idp).get("/oauth/callback?state=x").status_code == 400
