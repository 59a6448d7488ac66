"""A real ``scimserver`` (gunicorn, two workers) on 127.0.0.1, once per storage backend.

The session-scoped ``live_server`` fixture prepares a database with the CLI exactly as an
operator would (``db upgrade``, ``orgs create``, ``token generate --json``), starts
``scimserver serve`` in its own process group and tears it down at the end. It is
parametrised over the backends: SQLite always, PostgreSQL when
``SCIMSERVER_TEST_POSTGRES_URL`` names a server (a fresh database is created on it and
dropped afterwards). Tests get uniquely named data, so one server serves the whole session.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.multi import cli_command as _cli_command
from tests.integration.multi import free_port as _free_port
from tests.integration.multi import postgres_database as _postgres_database
from tests.integration.multi import run_cli as _run_cli
from tests.integration.multi import run_cli_json as _run_cli_json

from .support import LOOPBACK, ScimSession, require_loopback

POSTGRES_URL_ENV = "SCIMSERVER_TEST_POSTGRES_URL"
STARTUP_TIMEOUT = 30.0
STARTUP_POLL_INTERVAL = 0.2
CLI_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 10.0
WORKERS = 2

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder talks to a live server: mark it ``integration``."""
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class Org:
    """An organisation made through the CLI, with its current token."""

    name: str
    slug: str
    tenant_url: str
    token: str


@dataclass
class LiveServer:
    """A running ``scimserver serve`` plus what a test needs to talk to it and administer it."""

    backend: str
    base_url: str
    env: dict[str, str]
    workdir: Path
    log_path: Path
    org: Org

    @property
    def tenant_url(self) -> str:
        return self.org.tenant_url

    @property
    def token(self) -> str:
        return self.org.token

    @property
    def slug(self) -> str:
        return self.org.slug

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``scimserver ARGS`` against this server's database."""
        return _run_cli(self.env, *args, check=check)

    def cli_json(self, *args: str) -> dict[str, Any]:
        return _run_cli_json(self.env, *args)

    def create_org(self, prefix: str) -> Org:
        """Create an organisation and generate its first token, as an operator does."""
        return _create_org(self.env, f"{prefix}-{secrets.token_hex(4)}")

    def generate_token(self, org: Org) -> str:
        token = self.cli_json("token", "generate", org.name, "--json")["token"]
        assert isinstance(token, str) and token.startswith("scim_"), token
        return token

    def session(self, org: Org | None = None, **kwargs: Any) -> ScimSession:
        org = org or self.org
        return ScimSession(org.tenant_url, kwargs.pop("token", org.token), **kwargs)

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _create_org(env: dict[str, str], name: str) -> Org:
    created = _run_cli_json(env, "orgs", "create", name, "--json")
    tenant_url, slug = created.get("tenant_url"), created.get("slug")
    assert isinstance(tenant_url, str) and isinstance(slug, str), created
    require_loopback(tenant_url)
    token = _run_cli_json(env, "token", "generate", name, "--json").get("token")
    assert isinstance(token, str) and token.startswith("scim_"), token
    return Org(name=name, slug=slug, tenant_url=tenant_url, token=token)


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


def _backend_params() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(POSTGRES_URL_ENV):
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


@pytest.fixture(scope="session", params=_backend_params())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "scim.db"
        yield Database("sqlite", f"sqlite:///{path}")
    else:
        with _postgres_database(os.environ[POSTGRES_URL_ENV]) as url:
            yield Database("postgresql", url)


def _wait_until_answering(proc: subprocess.Popen[bytes], probe_url: str, log_path: Path) -> None:
    """Poll until the server answers any HTTP response; bounded in time and attempts."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    max_attempts = int(STARTUP_TIMEOUT / STARTUP_POLL_INTERVAL) + 1
    last_error: Exception | None = None
    with requests.Session() as probe:
        probe.trust_env = False
        for _ in range(max_attempts):
            if proc.poll() is not None:
                break
            try:
                probe.get(probe_url, timeout=2, allow_redirects=False)
                return
            except requests.RequestException as exc:
                last_error = exc
            if time.monotonic() > deadline:
                break
            time.sleep(STARTUP_POLL_INTERVAL)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    raise AssertionError(
        f"scimserver serve did not answer {probe_url} within {STARTUP_TIMEOUT}s "
        f"(exit code {proc.poll()}, last error {last_error!r})\nserver log:\n{log[-5000:]}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the process group we started (gunicorn master and its workers)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout=SHUTDOWN_TIMEOUT)


@pytest.fixture(scope="session")
def live_server(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp(f"live-{database.backend}")
    port = _free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": database.url,
        "SCIMSERVER_PUBLIC_URL": base_url,
        # The suite refuses bad tokens on purpose, many a minute, all from 127.0.0.1: the
        # failure limit would answer 429 where those tests expect 401. The limits are
        # tested on a server of their own (test_rate_limits_and_access.py).
        "SCIMSERVER_RATE_LIMIT_AUTH_FAILURES": "0",
        # Counted, never reached: a long fuzz campaign (SCIMSERVER_FUZZ_EXAMPLES) sends one
        # organization more than the default 12,000 requests a minute.
        "SCIMSERVER_RATE_LIMIT_ORG_REQUESTS": str(10**9),
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "*",
    }

    _run_cli(env, "db", "upgrade")
    org = _create_org(env, f"it-main-{secrets.token_hex(4)}")
    assert org.tenant_url == f"{base_url}/scim/v2/organizations/{org.slug}", org

    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *_cli_command(),
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
            ],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(proc, f"{org.tenant_url}/ServiceProviderConfig", log_path)
        yield LiveServer(
            backend=database.backend,
            base_url=base_url,
            env=env,
            workdir=workdir,
            log_path=log_path,
            org=org,
        )
    finally:
        _stop(proc)


@pytest.fixture
def scim(live_server: LiveServer) -> Iterator[ScimSession]:
    """A SCIM client session for the main organisation: bearer token, SCIM media types."""
    with live_server.session(content_type="application/scim+json") as session:
        yield session
