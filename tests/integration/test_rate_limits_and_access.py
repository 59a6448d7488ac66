"""Rate limits and the SCIM access switch, observed through a live server with two workers.

The server of this module has small limits (10 failed authentications per client
address, 100 requests per organization, batches of 10) in windows of 10^9 seconds
(until 2033), so no test straddles a window's end, and a JWT key. A test that is not
about the request limit sends each organization far fewer than 100 requests. It has its own database
(SQLite, and PostgreSQL when configured), so the rest of the suite's traffic never
counts against its limits.

Other clients are other loopback addresses (``127.0.0.2``, ...): the server still only
listens on, and is only sent traffic at, 127.0.0.1. Each request opens a fresh
connection and reports which worker answered it, so "on every worker" is observed,
not assumed; loops that wait for both workers to have answered are bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from .conftest import POSTGRES_URL_ENV, _backend_params
from .multi import (
    Answer,
    Instance,
    concurrently,
    fresh_request,
    postgres_database,
    run_cli,
    run_cli_json,
    start_instance,
    stop_process_groups,
    wait_until_ready,
)
from .support import LOOPBACK

WORKERS = 2
FAILURES = 10
ORG_REQUESTS = 100
BATCH = 10
WINDOW = 10**9
JWT_KEY = "integration-jwt-key-" + secrets.token_hex(16)
#: Fresh connections a test may open waiting for both workers to have answered.
COVERAGE_ATTEMPTS = 40
#: Requests released together.
BURST = 4
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

_addresses = itertools.count()


def another_client() -> str:
    """A loopback address no other request of this module has used."""
    n = next(_addresses)
    return f"127.1.{n // 250}.{n % 250 + 1}"


@dataclass(frozen=True)
class Org:
    name: str
    slug: str
    token: str

    @property
    def users(self) -> str:
        return f"/scim/v2/organizations/{self.slug}/Users?count=1"


@dataclass
class Guarded:
    instance: Instance
    env: dict[str, str]

    def create_org(self, prefix: str) -> Org:
        name = f"{prefix}-{secrets.token_hex(4)}"
        slug = run_cli_json(self.env, "orgs", "create", name, "--json")["slug"]
        return Org(name, slug, self.generate_token(name))

    def generate_token(self, name: str) -> str:
        token = run_cli_json(self.env, "token", "generate", name, "--json")["token"]
        assert isinstance(token, str)
        return token

    def burst(
        self, path: str, headers: Callable[[], dict[str, str]], source: Callable[[], str]
    ) -> list[Answer]:
        """:data:`BURST` fresh requests released together (strictly sequential
        connections tend to be accepted by one worker every time)."""
        calls = [(headers(), source()) for _ in range(BURST)]
        return concurrently(
            [lambda h=h, s=s: fresh_request(self.instance, path, h, source=s) for h, s in calls]
        )

    def on_every_worker(
        self, path: str, headers: Callable[[], dict[str, str]], source: Callable[[], str]
    ) -> list[Answer]:
        """Bursts of fresh requests until every worker has answered one (bounded)."""
        answers: list[Answer] = []
        workers = self.instance.worker_pids()
        for _ in range(COVERAGE_ATTEMPTS // BURST):
            answers += self.burst(path, headers, source)
            if workers <= {a.worker for a in answers}:
                return answers
        raise AssertionError(
            f"{COVERAGE_ATTEMPTS} fresh connections did not reach every worker "
            f"{sorted(workers)}: {[a.worker for a in answers]}"
        )


@pytest.fixture(scope="module", params=_backend_params())
def guarded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guarded]:
    workdir = tmp_path_factory.mktemp(f"guarded-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{workdir / 'scim.db'}"
        else:
            url = stack.enter_context(postgres_database(os.environ[POSTGRES_URL_ENV]))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
            "SCIMSERVER_DATABASE_URL": url,
            "SCIMSERVER_JWT_KEY": JWT_KEY,
            "SCIMSERVER_RATE_LIMIT_AUTH_FAILURES": str(FAILURES),
            "SCIMSERVER_RATE_LIMIT_AUTH_WINDOW": str(WINDOW),
            "SCIMSERVER_RATE_LIMIT_ORG_REQUESTS": str(ORG_REQUESTS),
            "SCIMSERVER_RATE_LIMIT_ORG_WINDOW": str(WINDOW),
            "SCIMSERVER_RATE_LIMIT_ORG_BATCH": str(BATCH),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "*",
        }
        run_cli(env, "db", "upgrade")
        instance = start_instance(f"guarded-{request.param}", env, WORKERS, workdir)
        stack.callback(stop_process_groups, [instance.proc])
        wait_until_ready(instance, WORKERS)
        yield Guarded(instance, env)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}


def guess() -> dict[str, str]:
    return bearer("scim_" + secrets.token_urlsafe(32))


def token_of(org: Org) -> Callable[[], dict[str, str]]:
    return lambda: bearer(org.token)


def jwt_of(org: Org) -> str:
    return jwt.encode({"org": org.slug, "exp": int(time.time()) + 600}, JWT_KEY, "HS256")


def fixed(address: str) -> Callable[[], str]:
    return lambda: address


def assert_429(answer: Answer, *words: str) -> None:
    assert answer.status == 429, answer
    assert answer.headers.get("Content-Type", "").startswith("application/scim+json"), answer
    assert int(answer.headers["Retry-After"]) > 0, answer
    body: dict[str, Any] = json.loads(answer.body)
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == "429", body
    for word in words:
        assert word in body["detail"], body


def statuses(answers: list[Answer]) -> set[int]:
    return {a.status for a in answers}


# -- failed authentications per client address --------------------------------------------


def test_a_burst_of_invalid_tokens_gets_429_on_every_worker_while_other_tenants_work(
    guarded: Guarded,
) -> None:
    target, other = guarded.create_org("rl-target"), guarded.create_org("rl-other")
    attacker = another_client()
    first = [
        fresh_request(guarded.instance, target.users, guess(), source=attacker)
        for _ in range(FAILURES)
    ]
    assert [a.status for a in first] == [401] * FAILURES
    # Every further guess is refused, by whichever worker takes it: each learnt the
    # block from the shared counter on its own first failure past the limit.
    refused = guarded.on_every_worker(target.users, guess, fixed(attacker))
    for answer in refused:
        assert_429(answer, attacker, "failed authentications")
    # Meanwhile another tenant, from its own address, is served by every worker.
    served = guarded.on_every_worker(other.users, token_of(other), another_client)
    assert statuses(served) == {200}


def test_a_tenant_sharing_a_blocked_address_keeps_working(guarded: Guarded) -> None:
    """An IdP's egress address may carry a failing client too: a token every worker
    has accepted still passes; a token never seen from there waits for the window."""
    tenant, unseen = guarded.create_org("rl-shared"), guarded.create_org("rl-unseen")
    shared = another_client()
    assert statuses(guarded.on_every_worker(tenant.users, token_of(tenant), fixed(shared))) == {200}
    for _ in range(FAILURES):
        fresh_request(guarded.instance, unseen.users, guess(), source=shared)
    for answer in guarded.on_every_worker(unseen.users, guess, fixed(shared)):
        assert_429(answer)  # both workers now refuse this address from memory
    after = guarded.on_every_worker(tenant.users, token_of(tenant), fixed(shared))
    assert statuses(after) == {200}
    assert_429(fresh_request(guarded.instance, unseen.users, bearer(unseen.token), source=shared))
    assert statuses(guarded.on_every_worker(unseen.users, token_of(unseen), another_client)) == {
        200
    }


# -- requests per organization ------------------------------------------------------------


def test_an_organization_over_its_request_limit_gets_429_and_another_does_not(
    guarded: Guarded,
) -> None:
    busy, calm = guarded.create_org("rl-busy"), guarded.create_org("rl-calm")
    answers: list[Answer] = []
    refusing: set[int | None] = set()
    workers = guarded.instance.worker_pids()
    for _ in range(ORG_REQUESTS * 3 // BURST):  # ends once every worker has refused
        burst = guarded.burst(busy.users, token_of(busy), fixed("127.0.0.1"))
        for answer in burst:
            if answer.status == 429:
                assert_429(answer, f"'{busy.slug}'", f"{ORG_REQUESTS} in {WINDOW} seconds")
            else:
                assert answer.status == 200, answer
                # A worker that has refused the organization refuses it until the window
                # ends (the requests of one burst run at the same time, so compare bursts).
                assert answer.worker not in refusing, answer
        refusing |= {a.worker for a in burst if a.status == 429}
        answers += burst
        if workers <= refusing:
            break
    assert workers <= refusing, f"not every worker refused: {[a.worker for a in answers]}"
    served = sum(a.status == 200 for a in answers)
    # Each worker adds its count every BATCH requests, off the request path: the total
    # may pass the limit by what the workers counted but had not added yet (one batch
    # each, plus what arrived while a batch was being added).
    assert ORG_REQUESTS < served <= ORG_REQUESTS + WORKERS * 3 * BATCH, served
    assert statuses(guarded.on_every_worker(calm.users, token_of(calm), another_client)) == {200}


# -- the SCIM access switch: token revoke, orgs disable / enable --------------------------


def test_a_revoked_organization_refuses_its_jwt_on_every_worker_until_a_new_token(
    guarded: Guarded,
) -> None:
    org = guarded.create_org("access-revoke")
    signed = jwt_of(org)
    assert statuses(guarded.on_every_worker(org.users, lambda: bearer(signed), another_client)) == {
        200
    }
    said = run_cli(guarded.env, "token", "revoke", org.name).stdout
    assert "SCIM access is off" in said and "JWTs are refused too" in said
    for credential in (signed, org.token):
        refused = guarded.on_every_worker(org.users, lambda c=credential: bearer(c), another_client)
        assert statuses(refused) == {401}
    generated = run_cli_json(guarded.env, "token", "generate", org.name, "--json")
    assert generated["scim_access_restored"] is True
    for credential in (signed, generated["token"]):
        served = guarded.on_every_worker(org.users, lambda c=credential: bearer(c), another_client)
        assert statuses(served) == {200}


def test_orgs_disable_turns_every_token_off_and_enable_turns_it_on_again(
    guarded: Guarded,
) -> None:
    org = guarded.create_org("access-switch")
    signed = jwt_of(org)
    disabled = run_cli_json(guarded.env, "orgs", "disable", org.name, "--json")
    assert disabled["scim_enabled"] is False and disabled["scim_disabled_at"]
    for credential in (signed, org.token):
        refused = guarded.on_every_worker(org.users, lambda c=credential: bearer(c), another_client)
        assert statuses(refused) == {401}
    listed = json.loads(run_cli(guarded.env, "orgs", "list", "--json").stdout)
    assert [o["scim_enabled"] for o in listed if o["slug"] == org.slug] == [False]
    enabled = run_cli_json(guarded.env, "orgs", "enable", org.name, "--json")
    assert enabled["scim_enabled"] is True and enabled["scim_disabled_at"] is None
    for credential in (signed, org.token):
        served = guarded.on_every_worker(org.users, lambda c=credential: bearer(c), another_client)
        assert statuses(served) == {200}


# -- behind a reverse proxy -----------------------------------------------------------------


def test_behind_a_trusted_proxy_the_limit_counts_the_forwarded_client(guarded: Guarded) -> None:
    """The service's default trusted proxy is 127.0.0.1 (an nginx on the same host): what
    it forwards in X-Forwarded-For is the client. One client's guesses through it are
    refused; another client through the same proxy, with a token no worker has seen, is
    served; and a client that is not a trusted proxy cannot pick its own address."""
    org = guarded.create_org("rl-proxy")
    guesser, colleague = another_client(), another_client()

    def via_proxy(client: str, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "X-Forwarded-For": f"198.51.100.9, {client}"}

    for _ in range(FAILURES):
        answer = fresh_request(guarded.instance, org.users, via_proxy(guesser, guess()))
        assert answer.status == 401, answer
    refused = guarded.on_every_worker(
        org.users, lambda: via_proxy(guesser, guess()), fixed(LOOPBACK)
    )
    for answer in refused:
        assert_429(answer, guesser)
    fresh_token = guarded.generate_token(org.name)
    served = guarded.on_every_worker(
        org.users, lambda: via_proxy(colleague, bearer(fresh_token)), fixed(LOOPBACK)
    )
    assert statuses(served) == {200}, served
    # 127.0.0.3 is no proxy: its X-Forwarded-For is ignored, its guesses are its own.
    spoofer = another_client()
    for n in range(FAILURES):
        forged = {**guess(), "X-Forwarded-For": f"203.0.113.{n}"}
        assert fresh_request(guarded.instance, org.users, forged, source=spoofer).status == 401
    blocked = fresh_request(guarded.instance, org.users, guess(), source=spoofer)
    assert_429(blocked, spoofer)


# -- JWTs a client shaped badly -----------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"org": "acme\x00"},
        {"org": "\ud800"},
        {"org": "x" * 5000},
        {"org": ["acme"]},
        {"exp": "9999999999"},
        {"exp": True},
        {"nbf": "0"},
    ],
    ids=["org-nul", "org-surrogate", "org-long", "org-list", "exp-string", "exp-bool", "nbf"],
)
def test_a_jwt_with_malformed_claims_is_401_not_500(
    guarded: Guarded, claims: dict[str, Any]
) -> None:
    org = guarded.create_org("rl-jwt-claims")
    payload = {"org": org.slug, "exp": int(time.time()) + 600, **claims}
    # json.dumps writes a lone surrogate as an escape, as a hostile client would.
    header = {"alg": "HS256", "typ": "JWT"}
    signed = jwt.api_jws.encode(json.dumps(payload).encode(), JWT_KEY, "HS256", header)
    answer = fresh_request(guarded.instance, org.users, bearer(signed), source=another_client())
    assert answer.status == 401, answer
    assert json.loads(answer.body)["schemas"] == [ERROR_SCHEMA]
    valid = fresh_request(guarded.instance, org.users, bearer(jwt_of(org)), source=another_client())
    assert valid.status == 200, valid
