"""The cybozu.com connector against a local domain held to the User API reference
(tests/connectors/cybozu_fake.py): the contract kit, paging, updates that keep what
the API would reset, license profiles as services, credentials (password, API token,
the domain's Basic authentication), throttling, downstream faults through the worker,
and a user created over SCIM reaching cybozu.com and being suspended there, on both
databases.

``--live``: with ``CYBOZU_BASE_URL`` (``https://SUBDOMAIN.cybozu.com``),
``CYBOZU_LOGIN`` and ``CYBOZU_PASSWORD`` (a cybozu.com administrator without two-step
verification) in the environment, the contract kit also runs against the real domain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scimcore.adapters.connectors import BearerAuth, Connector, ConnectorContext, load
from scimcore.adapters.connectors.credentials import Basic, BearerToken, IdPassword
from scimcore.adapters.connectors.cybozu import (
    CybozuConnector,
    CybozuPasswordAuth,
    license_services,
)
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.connector import AccountRef, AccountSpec, Auth
from scimcore.provisioning.errors import (
    AlreadyExists,
    AuthenticationFailed,
    PermanentError,
    RateLimited,
    TransientError,
)

from .conftest import Env
from .cybozu_fake import CybozuFake, cybozu_server

ADMIN, PASSWORD = "admin@example.com", "s3cret-Passw0rd"


@pytest.fixture
def cybozu() -> Iterator[CybozuFake]:
    with cybozu_server(CybozuFake()) as fake:
        fake.administrator(ADMIN, PASSWORD)
        yield fake
        assert fake.violations == [], "requests cybozu.com would refuse"


def _auth() -> CybozuPasswordAuth:
    return CybozuPasswordAuth(ADMIN, PASSWORD)


def _context(fake: CybozuFake, auth: Auth | None = None, **settings: object) -> ConnectorContext:
    return ConnectorContext("org", 1, {"base_url": fake.url, **settings}, auth or _auth())


class TestCybozuOnTheFakeDomain(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("cybozu")

    @pytest.fixture
    def context(self, cybozu: CybozuFake) -> ConnectorContext:
        return _context(cybozu)


@pytest.mark.skipif(
    not all(os.environ.get(k) for k in ("CYBOZU_BASE_URL", "CYBOZU_LOGIN", "CYBOZU_PASSWORD")),
    reason="--live: set CYBOZU_BASE_URL, CYBOZU_LOGIN and CYBOZU_PASSWORD to run against cybozu",
)
class TestCybozuLive(ConnectorContract):  # pragma: no cover - needs a domain
    @pytest.fixture
    def connector(self) -> Connector:
        return load("cybozu")

    @pytest.fixture
    def context(self) -> ConnectorContext:
        auth = CybozuPasswordAuth(os.environ["CYBOZU_LOGIN"], os.environ["CYBOZU_PASSWORD"])
        return ConnectorContext(
            "org", 1, {"base_url": os.environ["CYBOZU_BASE_URL"]}, auth, timeout=30
        )


# -- discovery -----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(229, 3), (199, 2)])
def test_discovery_pages_by_offset_until_a_short_page(
    cybozu: CybozuFake, count: int, pages: int
) -> None:
    for n in range(count):  # with the administrator: 230 or 200 users
        cybozu.add(f"user{n:03d}@example.com", valid=n % 7 != 0)
    accounts = list(load("cybozu").iter_accounts(_context(cybozu), page_size=100))
    assert len(accounts) == count + 1
    assert len({a.remote_id for a in accounts}) == count + 1
    lists = [t for m, t in cybozu.requests if t.startswith("/v1/users.json?")]
    assert len(lists) == pages + (1 if (count + 1) % 100 == 0 else 0)
    assert "size=100" in lists[0] and "offset=0" in lists[0] and "offset=100" in lists[1]
    by_login = {a.login: a for a in accounts}
    assert by_login["user000@example.com"].status == "suspended"
    assert by_login["user001@example.com"].status == "active"


def test_a_page_size_over_the_limit_is_capped_at_100(cybozu: CybozuFake) -> None:
    list(load("cybozu").iter_accounts(_context(cybozu, page_size=500)))
    assert any("size=100" in t for _, t in cybozu.requests)  # 500 would be refused


def test_find_by_email_reads_the_listing_the_api_has_no_email_filter(cybozu: CybozuFake) -> None:
    for n in range(150):
        cybozu.add(f"u{n}", email=f"person{n}@example.com")
    found = load("cybozu").find_account(_context(cybozu), email="PERSON140@example.com")
    assert found is not None and found.login == "u140"
    assert load("cybozu").find_account(_context(cybozu), email="nobody@example.com") is None
    calls = len(cybozu.requests)
    off = _context(cybozu, email_lookup="false")
    assert load("cybozu").find_account(off, email="person140@example.com") is None
    assert len(cybozu.requests) == calls  # no listing read


# -- writes --------------------------------------------------------------------------------


def test_create_sends_the_required_fields_and_reads_the_user_back(cybozu: CybozuFake) -> None:
    spec = AccountSpec(
        "hanako@example.com",
        email="hanako@example.com",
        given_name="Hanako",
        family_name="Sato",
    )
    made = load("cybozu").create_account(_context(cybozu), spec, idempotency_key="k")
    stored = cybozu.by_code("hanako@example.com")
    assert stored is not None and made.remote_id == stored["id"]
    assert stored["name"] == "Sato Hanako" and stored["email"] == "hanako@example.com"
    assert (stored["surName"], stored["givenName"], stored["valid"]) == ("Sato", "Hanako", True)
    assert [m for m, _ in cybozu.requests] == ["POST", "GET"]
    with pytest.raises(AlreadyExists) as taken:
        load("cybozu").create_account(_context(cybozu), spec, idempotency_key="k2")
    assert taken.value.existing is not None and taken.value.existing.remote_id == stored["id"]
    assert cybozu.creates == ["hanako@example.com"]


def test_an_update_keeps_the_suspension_and_language_the_api_would_reset(
    cybozu: CybozuFake,
) -> None:
    user = cybozu.add("away@example.com", valid=False, locale="en", name="Away")
    connector, ctx = load("cybozu"), _context(cybozu)
    spec = AccountSpec("away@example.com", display_name="Away Renamed", active=False)
    connector.update_account(ctx, AccountRef(remote_id=user["id"]), spec, idempotency_key="k")
    stored = cybozu.users[user["id"]]
    assert stored["name"] == "Away Renamed"
    assert stored["valid"] is False and stored["locale"] == "en"


def test_deactivate_sets_valid_false_and_repeating_only_reads(cybozu: CybozuFake) -> None:
    user = cybozu.add("leaver@example.com", locale="ja")
    connector, ctx = load("cybozu"), _context(cybozu)
    ref = AccountRef(remote_id=user["id"])
    connector.deactivate_account(ctx, ref, idempotency_key="d")
    assert cybozu.users[user["id"]]["valid"] is False
    calls = len(cybozu.requests)
    connector.deactivate_account(ctx, ref, idempotency_key="d2")
    assert [m for m, _ in cybozu.requests[calls:]] == ["GET"]
    connector.reactivate_account(ctx, ref, idempotency_key="r")
    assert cybozu.users[user["id"]]["valid"] is True
    assert cybozu.users[user["id"]]["locale"] == "ja"


def test_delete_sends_the_code_and_a_missing_user_is_no_error(cybozu: CybozuFake) -> None:
    user = cybozu.add("gone@example.com")
    connector, ctx = load("cybozu"), _context(cybozu)
    connector.delete_account(ctx, AccountRef(remote_id=user["id"]), idempotency_key="x")
    assert cybozu.by_code("gone@example.com") is None
    calls = len(cybozu.requests)
    connector.delete_account(ctx, AccountRef(account_id="gone@example.com"), idempotency_key="y")
    assert [m for m, _ in cybozu.requests[calls:]] == ["GET"]


def test_a_value_the_service_refuses_fails_the_job_with_its_words(cybozu: CybozuFake) -> None:
    spec = AccountSpec("long@example.com", given_name="x" * 65)  # trimmed to the limit
    load("cybozu").create_account(_context(cybozu), spec, idempotency_key="k")
    assert cybozu.by_code("long@example.com")["givenName"] == "x" * 64  # type: ignore[index]
    with pytest.raises(PermanentError, match=r"HTTP 400: CB_VA01 入力内容が正しくありません"):
        load("cybozu").create_account(
            _context(cybozu), AccountSpec("c" * 129), idempotency_key="k2"
        )
    assert cybozu.violations == ["400 CB_VA01: 入力内容が正しくありません。"]
    cybozu.violations.clear()  # the refusal was the point


# -- license profiles: services --------------------------------------------------------------


def test_profile_names_are_read_as_services_unless_the_setting_names_them() -> None:
    assert license_services("kintone+Garoon") == ["kintone", "garoon"]
    assert license_services("Garoon") == ["garoon"]
    assert license_services("サイボウズ Office + メールワイズ") == ["office", "mailwise"]
    setting = "Standard=kintone+garoon;Remote=kintone+SecureAccess;None="
    assert license_services("Standard", setting) == ["kintone", "garoon"]
    assert license_services("Remote", setting) == ["kintone", "secure_access"]
    assert license_services("None", setting) == []
    assert license_services("Gold", {"Gold": ["kintone", "office"]}) == ["kintone", "office"]
    with pytest.raises(PermanentError, match=r"'Premium' is no cybozu.com service.*Standard"):
        license_services("Premium", setting)


def test_the_license_profile_sets_exactly_its_services_and_only_when_they_differ(
    cybozu: CybozuFake,
) -> None:
    connector = load("cybozu")
    ctx = _context(cybozu, license_services="Standard=kintone+garoon;Mail=mailwise")
    spec = AccountSpec("worker@example.com", extras={"license_profile": "Standard"})
    made = connector.create_account(ctx, spec, idempotency_key="k")
    assert cybozu.services["worker@example.com"] == ["kintone", "garoon"]
    ref = AccountRef(remote_id=made.remote_id)
    mail = AccountSpec("worker@example.com", extras={"license_profile": "Mail"})
    connector.update_account(ctx, ref, mail, idempotency_key="k2")
    assert cybozu.services["worker@example.com"] == ["mailwise"]
    calls = len(cybozu.requests)
    connector.update_account(ctx, ref, mail, idempotency_key="k3")
    assert [m for m, _ in cybozu.requests[calls:]] == ["GET", "GET"]  # user, services
    connector.update_account(ctx, ref, AccountSpec("worker@example.com"), idempotency_key="k4")
    assert cybozu.services["worker@example.com"] == ["mailwise"]  # no profile: left alone


def test_an_unknown_profile_fails_before_anything_is_written(cybozu: CybozuFake) -> None:
    spec = AccountSpec("p@example.com", extras={"license_profile": "Platinum"})
    with pytest.raises(PermanentError, match="Platinum"):
        load("cybozu").create_account(_context(cybozu), spec, idempotency_key="k")
    assert cybozu.by_code("p@example.com") is None and cybozu.requests == []


# -- credentials ---------------------------------------------------------------------------


def test_the_password_header_is_base64_of_login_and_password_and_never_shown() -> None:
    from scimcore.provisioning.connector import HttpRequest

    auth = CybozuPasswordAuth("Administrator", "cybozu")
    request = HttpRequest("GET", "https://x.cybozu.com/v1/users.json", {})
    auth.apply(request)
    # The reference's own example: Administrator / cybozu.
    assert request.headers == {"X-Cybozu-Authorization": "QWRtaW5pc3RyYXRvcjpjeWJvenU="}
    with_basic = CybozuPasswordAuth("Administrator", "cybozu", basic=("gate", "k3y"))
    with_basic.apply(request)
    assert request.headers["Authorization"] == "Basic Z2F0ZTprM3k="
    for shown in (repr(auth), repr(with_basic), str(with_basic)):
        assert "cybozu'" not in shown and "k3y" not in shown and "QWRt" not in shown


def test_the_vaults_login_becomes_the_password_header_not_http_basic() -> None:
    connector = CybozuConnector()
    auth = connector.auth_from(IdPassword(username=ADMIN, password=PASSWORD))
    assert isinstance(auth, CybozuPasswordAuth) and auth.login == ADMIN
    token = connector.auth_from(BearerToken("cy.s.api1.token"))
    assert isinstance(token, BearerAuth)
    with pytest.raises(AuthenticationFailed, match="two-step verification"):
        connector.auth_from(
            IdPassword(username=ADMIN, password=PASSWORD, totp_secret="JBSWY3DPEHPK3PXP")
        )
    with pytest.raises(AuthenticationFailed, match=r"id_password.*bearer"):
        connector.auth_from(Basic(username="a", password="b"))


def test_a_refused_password_is_an_authentication_failure_without_the_secret(
    cybozu: CybozuFake,
) -> None:
    ctx = _context(cybozu, CybozuPasswordAuth(ADMIN, "wrong-password"))
    with pytest.raises(AuthenticationFailed) as refused:
        load("cybozu").get_account(ctx, AccountRef(account_id="x@example.com"))
    assert "HTTP 401: CB_WA01" in refused.value.message
    assert "wrong-password" not in refused.value.message
    assert not load("cybozu").test_connection(ctx).ok
    assert len(cybozu.violations) == 2 and "CB_WA01" in cybozu.violations[0]
    cybozu.violations.clear()  # the refusal was the point


def test_an_api_token_reads_with_read_scope_and_writes_with_write_scope(
    cybozu: CybozuFake,
) -> None:
    cybozu.tokens.update({"read-token": "read", "write-token": "write"})
    connector = load("cybozu")
    reader = _context(cybozu, BearerAuth("read-token"))
    assert [a.login for a in connector.iter_accounts(reader)] == [ADMIN]
    with pytest.raises(AuthenticationFailed, match="CB_NO02"):
        connector.create_account(reader, AccountSpec("t@example.com"), idempotency_key="k")
    writer = _context(cybozu, BearerAuth("write-token"))
    connector.create_account(writer, AccountSpec("t@example.com"), idempotency_key="k")
    assert cybozu.by_code("t@example.com") is not None
    # "Read and Write" may not change a member of Administrators.
    with pytest.raises(AuthenticationFailed, match="CB_NO02"):
        connector.deactivate_account(writer, AccountRef(account_id=ADMIN), idempotency_key="d")
    assert len(cybozu.violations) == 2
    cybozu.violations.clear()


def test_a_domain_with_basic_authentication_needs_its_header_too(cybozu: CybozuFake) -> None:
    cybozu.basic = ("gate", "gate-pass")
    connector = load("cybozu")
    with pytest.raises(AuthenticationFailed):
        list(connector.iter_accounts(_context(cybozu)))
    cybozu.violations.clear()
    auth = CybozuPasswordAuth(ADMIN, PASSWORD, basic=("gate", "gate-pass"))
    assert [a.login for a in connector.iter_accounts(_context(cybozu, auth))] == [ADMIN]


def test_the_vault_gives_the_login_as_the_password_header_and_refuses_a_two_step_one(
    env: Env, cybozu: CybozuFake
) -> None:
    """Through the worker's credential source: the stored login reaches cybozu.com as
    X-Cybozu-Authorization (HTTP Basic would be refused); a login with a TOTP seed
    parks the integration, saying why, before any request."""
    from scimcore.accounts import KeyRing
    from scimcore.adapters.connectors.credential_source import VaultCredentials
    from scimcore.adapters.connectors.credentials import CredentialVault
    from scimcore.storage.sql.credentials import SqlCredentialStore

    vault = CredentialVault(SqlCredentialStore(env.store.engine), KeyRing([KeyRing.generate_key()]))
    integration = env.integration("cybozu", {"base_url": cybozu.url})
    vault.put(integration, IdPassword(ADMIN, PASSWORD))
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None
    auth = VaultCredentials(vault).auth_for(binding, load("cybozu"))
    assert isinstance(auth, CybozuPasswordAuth)
    assert load("cybozu").test_connection(_context(cybozu, auth)).ok
    vault.put(integration, IdPassword(ADMIN, PASSWORD, totp_secret="JBSWY3DPEHPK3PXP"))
    env.create_user("someone@example.com")
    from scimcore.provisioning.worker import Worker

    calls = len(cybozu.requests)
    Worker(env.prov, VaultCredentials(vault)).run(until_idle=True)
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.integration.status == "needs_reauth"
    assert "two-step verification" in (binding.last_error or "")
    assert len(cybozu.requests) == calls  # refused before any request


def test_the_admin_gives_the_subdomain_and_the_address_is_built_from_it() -> None:
    from scimserver.integration_setup import SetupError, with_address

    connector = load("cybozu")
    assert with_address(connector, {"subdomain": "acme"})["base_url"] == ("https://acme.cybozu.com")
    with pytest.raises(SetupError, match="subdomain must be letters"):
        with_address(connector, {"subdomain": "acme.evil.example/x"})
    given = with_address(connector, {"subdomain": "acme", "base_url": "http://127.0.0.1:9"})
    assert given["base_url"] == "http://127.0.0.1:9"  # tests and proxies give it directly


# -- throttling and faults -----------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_waits_for_retry_after(cybozu: CybozuFake, status: int) -> None:
    cybozu.throttle(1, status=status, retry_after="7")
    with pytest.raises(RateLimited) as limited:
        load("cybozu").get_account(_context(cybozu), AccountRef(account_id="x@example.com"))
    assert limited.value.retry_after == 7.0 and limited.value.status == status


def test_a_server_error_is_retried_and_names_the_error_id(cybozu: CybozuFake) -> None:
    cybozu.fault = lambda m, p: (
        520,
        {"Content-Type": "application/json"},
        b'{"code":"GAIA_UN03","id":"abc123","message":"unexpected"}',
    )
    with pytest.raises(TransientError, match=r"HTTP 520: GAIA_UN03 unexpected \(error id abc123\)"):
        list(load("cybozu").iter_accounts(_context(cybozu)))


def test_429_through_the_worker_pauses_the_integration(env: Env, cybozu: CybozuFake) -> None:
    integration = env.integration("cybozu", {"base_url": cybozu.url}, auth=_auth())
    env.create_user("busy@example.com")
    cybozu.throttle(1, retry_after="120")
    before = datetime.now(UTC)
    env.worker().run(until_idle=True)
    (job,) = env.jobs()
    assert job.status == "pending" and 115 <= (job.run_after - before).total_seconds() <= 125
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.paused_until is not None


def test_a_refused_password_parks_the_integration_without_a_retry_storm(
    env: Env, cybozu: CybozuFake
) -> None:
    integration = env.integration(
        "cybozu", {"base_url": cybozu.url}, auth=CybozuPasswordAuth(ADMIN, "expired-pw")
    )
    for n in range(3):
        env.create_user(f"locked{n}@example.com")
    env.worker().run(until_idle=True)
    calls = len(cybozu.requests)
    assert calls == 1
    for _ in range(2):
        env.make_due()
        env.worker().run(until_idle=True)
    assert len(cybozu.requests) == calls
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.integration.status == "needs_reauth"
    assert "CB_WA01" in (binding.last_error or "")
    assert "expired-pw" not in (binding.last_error or "")
    cybozu.violations.clear()
    env.auth[integration] = _auth()
    env.prov.set_integration_status(env.org.id, integration, "active")
    env.worker().run(until_idle=True)
    assert [j.status for j in env.jobs()] == ["succeeded"] * 3
    assert sorted(cybozu.creates) == [f"locked{n}@example.com" for n in range(3)]


def test_a_server_error_then_recovery_creates_the_user_once(env: Env, cybozu: CybozuFake) -> None:
    env.integration("cybozu", {"base_url": cybozu.url}, auth=_auth())
    failures = {"left": 2}

    def flaky(method: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
        if method == "POST" and failures["left"]:
            failures["left"] -= 1
            return 503, {}, b"Service Unavailable"
        return None

    cybozu.fault = flaky
    env.create_user("flaky@example.com")
    for _ in range(3):
        env.worker().run(until_idle=True)
        env.make_due()
    assert [j.status for j in env.jobs()] == ["succeeded"]
    assert cybozu.creates == ["flaky@example.com"]


def test_a_timeout_after_the_create_landed_links_the_user_instead_of_a_second(
    env: Env, cybozu: CybozuFake
) -> None:
    """The POST reaches cybozu.com but its answer never arrives: the retry finds the
    user by its code and links it; nothing is created twice."""
    integration = env.integration("cybozu", {"base_url": cybozu.url}, auth=_auth())
    lost = {"left": 1}

    def slow_answer(method: str, path: str) -> tuple[int, dict[str, str], bytes] | None:
        if method == "POST" and lost["left"]:
            lost["left"] -= 1
            with cybozu.lock:
                cybozu.add("late@example.com")
                cybozu.creates.append("late@example.com")
            time.sleep(0.6)
        return None

    cybozu.fault = slow_answer
    uid = env.create_user("late@example.com")
    env.worker(timeout=0.3).run(until_idle=True)
    env.make_due()
    cybozu.fault = None
    env.worker().run(until_idle=True)
    assert [j.status for j in env.jobs()] == ["succeeded"]
    assert cybozu.creates == ["late@example.com"]
    link = env.prov.link(env.org.id, integration, uid)
    assert link is not None and link.remote_id == cybozu.by_code("late@example.com")["id"]  # type: ignore[index]


def test_worker_killed_mid_batch_loses_no_user_and_creates_none_twice(
    tmp_path: Path, cybozu: CybozuFake
) -> None:
    """A ``scimserver worker`` process killed with SIGKILL in the middle of its batch,
    its credential the vault's administrator login (through ``auth_from``: the
    X-Cybozu-Authorization header): another worker finishes the batch, and every user
    exists once in cybozu.com, linked."""
    from scimcore.accounts import KeyRing
    from scimcore.adapters.connectors.credentials import CredentialVault
    from scimcore.storage.sql.credentials import SqlCredentialStore

    from .conftest import make_env

    url = f"sqlite:///{tmp_path / 'kill.db'}"
    env = make_env(url)
    key = KeyRing.generate_key()
    integration = env.integration("cybozu", {"base_url": cybozu.url})
    CredentialVault(SqlCredentialStore(env.store.engine), KeyRing([key])).put(
        integration, IdPassword(ADMIN, PASSWORD)
    )
    names = [f"batch{n}@example.com" for n in range(10)]
    for name in names:
        env.create_user(name)
    cybozu.delay = 0.1
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": url,
        "SCIMSERVER_SECRET_KEYS": key,
    }
    script = Path(sys.executable).with_name("scimserver")
    proc = subprocess.Popen(
        [str(script), "worker", "--batch", "10", "--lease-seconds", "1"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(cybozu.creates) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert 3 <= len(cybozu.creates) < len(names)  # killed in the middle of its batch
    cybozu.delay = 0
    time.sleep(1.1)  # the dead worker's lease runs out
    env.auth[integration] = _auth()
    env.worker().run(until_idle=True, max_seconds=60)
    assert [j.status for j in env.jobs()] == ["succeeded"] * len(names)
    assert sorted(cybozu.creates) == sorted(names)  # every user once, none twice
    for job in env.jobs():
        link = env.prov.link(env.org.id, integration, job.user_id)
        assert link is not None and cybozu.users[link.remote_id]["code"] in names


# -- end to end ----------------------------------------------------------------------------


def test_a_user_created_over_scim_reaches_cybozu_and_is_suspended_on_deactivation(
    any_env: Env, cybozu: CybozuFake
) -> None:
    integration = any_env.integration("cybozu", {"base_url": cybozu.url}, auth=_auth())
    login = f"okta.{uuid.uuid4().hex[:6]}@example.com"
    uid = any_env.create_user(login, name={"givenName": "Okta", "familyName": "User"})
    assert any_env.worker().run(until_idle=True, max_seconds=60).succeeded >= 1
    remote = cybozu.by_code(login)
    assert remote is not None and remote["valid"] is True
    assert (remote["givenName"], remote["surName"], remote["email"]) == ("Okta", "User", login)
    link = any_env.prov.link(any_env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote["id"]
    any_env.set_active(uid, False)
    any_env.worker().run(until_idle=True, max_seconds=60)
    assert cybozu.users[remote["id"]]["valid"] is False
