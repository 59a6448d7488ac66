"""The ``scim2`` connector against a SCIM server we did not write: scim2-server from PyPI.

scim2-server (python-scim, pinned to ``PEER_VERSION``) is installed into its own
virtualenv, never into the project's: ``.cache/peer-venv-scim2-server-<version>`` at the
repository root (``.cache`` ignores itself), or ``$SCIMSERVER_TEST_PEER_VENV``. The venv
is kept between runs, so CI pays the install once per cache. The test is skipped only
when that install fails because the package index cannot be reached; any other failure
fails it. The server runs as its own process on 127.0.0.1 with a bearer token; every
wait is bounded.

What runs against it: the connector contract kit, the worker's create / update /
deactivate / reactivate / delete of an IdP user, a refused token, and discovery paging
(``page_size=2`` over more accounts than one page).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scimcore.adapters.connectors import (
    AccountRef,
    AuthenticationFailed,
    BearerAuth,
    Connector,
    ConnectorContext,
    load,
)
from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.discovery import sync
from tests.connectors.conftest import Env, make_env

from .conftest import REPO_ROOT, _free_port, _stop
from .support import LOOPBACK, require_loopback

PEER_VERSION = "0.8.3"
PEER_PACKAGE = f"scim2-server=={PEER_VERSION}"
INSTALL_TIMEOUT = 300.0
STARTUP_TIMEOUT = 30.0
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

#: pip's words for "the index cannot be reached" (the only reason to skip).
_OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|Connection refused|"
    r"ConnectTimeout|ReadTimeout|timed out|No matching distribution found|"
    r"Could not find a version that satisfies|ProxyError|SSLError"
)


def _peer_venv() -> Path:
    override = os.environ.get("SCIMSERVER_TEST_PEER_VENV")
    if override:
        return Path(override)
    cache = REPO_ROOT / ".cache"
    cache.mkdir(exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# test caches (peer virtualenvs); never committed\n*\n")
    return cache / f"peer-venv-scim2-server-{PEER_VERSION}"


def _install(venv: Path) -> Path:
    """The scim2-server executable of ``venv``, installing it once (under a file lock)."""
    exe = venv / "bin" / "scim2-server"
    marker = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be installing it
        if marker.exists() and marker.read_text() == PEER_PACKAGE and exe.exists():
            return exe
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            timeout=120,
            capture_output=True,
        )
        proc = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--timeout",
                "30",
                "--retries",
                "2",
                PEER_PACKAGE,
            ],
            timeout=INSTALL_TIMEOUT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            if _OFFLINE.search(output):
                pytest.skip(
                    f"cannot install {PEER_PACKAGE} into {venv}: the package index is "
                    f"unreachable ({output.strip().splitlines()[-1][:200]})"
                )
            pytest.fail(f"installing {PEER_PACKAGE} into {venv} failed:\n{output[-3000:]}")
        if not exe.exists():
            pytest.fail(f"{PEER_PACKAGE} installed no scim2-server script in {venv}")
        marker.write_text(PEER_PACKAGE)
        return exe


class Peer:
    def __init__(self, base_url: str, token: str) -> None:
        require_loopback(base_url)
        self.base_url = base_url
        self.token = token
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update(
            {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        )

    def context(self, **settings: Any) -> ConnectorContext:
        return ConnectorContext(
            "org", 1, {"base_url": self.base_url, **settings}, BearerAuth(self.token), timeout=5
        )

    def find(self, user_name: str) -> dict[str, Any] | None:
        resp = self.http.get(
            f"{self.base_url}/Users",
            params={"filter": f'userName eq "{user_name}"'},
            timeout=10,
            allow_redirects=False,
        )
        resp.raise_for_status()
        found = resp.json()["Resources"]
        return found[0] if found else None

    def add(self, user_name: str) -> str:
        resp = self.http.post(
            f"{self.base_url}/Users",
            json={
                "schemas": [USER_SCHEMA],
                "userName": user_name,
                "emails": [{"value": user_name, "primary": True}],
                "active": True,
            },
            timeout=10,
            allow_redirects=False,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    started = time.monotonic()
    exe = _install(_peer_venv())
    install_seconds = time.monotonic() - started
    port = _free_port()
    token = secrets.token_urlsafe(24)
    log_path = tmp_path_factory.mktemp("scim2-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIMSERVER_", "PYTHON"))}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "--hostname", LOOPBACK, "--port", str(port), f"--bearer-token={token}"],
            env={**env, "NO_PROXY": "*"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    peer = Peer(f"http://{LOOPBACK}:{port}/v2", token)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"scim2-server exited {proc.returncode}:\n{log_path.read_text()}")
            with contextlib.suppress(requests.RequestException):
                resp = peer.http.get(f"{peer.base_url}/ServiceProviderConfig", timeout=2)
                if resp.status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"scim2-server did not answer in {STARTUP_TIMEOUT}s")
            time.sleep(0.1)
        print(f"scim2-server {PEER_VERSION}: venv ready in {install_seconds:.1f}s")
        yield peer
    finally:
        _stop(proc)


class TestScim2ConnectorAgainstScim2Server(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("scim2")

    @pytest.fixture
    def context(self, peer: Peer) -> ConnectorContext:
        return peer.context()


def test_a_refused_token_is_an_authentication_failure(peer: Peer) -> None:
    connector = load("scim2")
    ctx = ConnectorContext("org", 1, {"base_url": peer.base_url}, BearerAuth("wrong"), timeout=5)
    check = connector.test_connection(ctx)
    assert not check.ok and "401" in check.message
    assert "wrong" not in check.message
    with pytest.raises(AuthenticationFailed):
        next(iter(connector.iter_accounts(ctx)))


def test_deactivation_by_put_works_there_too(peer: Peer) -> None:
    """The PUT fallback (for servers without PATCH) against a real server."""
    connector = load("scim2")
    ctx = peer.context(patch="false")
    login = f"put.{uuid.uuid4().hex[:8]}@example.com"
    uid = peer.add(login)
    ref = AccountRef(remote_id=uid)
    done = connector.deactivate_account(ctx, ref, idempotency_key="k1")
    assert done is not None and not done.active
    after = peer.find(login)
    assert after is not None and after["active"] is False and after["emails"][0]["value"] == login
    done = connector.reactivate_account(ctx, ref, idempotency_key="k2")
    assert done is not None and done.active


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(f"sqlite:///{tmp_path / 'upstream.db'}")


def test_the_worker_provisions_updates_deactivates_and_deletes_on_scim2_server(
    env: Env, peer: Peer
) -> None:
    login = f"peer.{uuid.uuid4().hex[:8]}@example.com"
    integration = env.integration("scim2", {"base_url": peer.base_url}, auth=BearerAuth(peer.token))
    uid = env.create_user(login, displayName="Peer Person")
    assert env.worker().run(until_idle=True).succeeded == 1
    remote = peer.find(login)
    assert remote is not None and remote["active"] is True
    assert remote["displayName"] == "Peer Person" and remote["externalId"] == uid
    link = env.prov.link(env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote["id"]

    env.scim(
        "PATCH",
        f"/Users/{uid}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "name.familyName", "value": "Renamed"}],
        },
    )
    env.worker().run(until_idle=True)
    assert peer.find(login)["name"]["familyName"] == "Renamed"  # type: ignore[index]

    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    assert peer.find(login)["active"] is False  # type: ignore[index]
    env.set_active(uid, True)
    env.worker().run(until_idle=True)
    assert peer.find(login)["active"] is True  # type: ignore[index]
    assert [j.status for j in env.jobs()] == ["succeeded"] * len(env.jobs())

    # The delete policy: the IdP's deactivation deletes the account downstream.
    gone = f"peer.gone.{uuid.uuid4().hex[:8]}@example.com"
    env.integration(
        "scim2",
        {"base_url": peer.base_url},
        auth=BearerAuth(peer.token),
        on_delete="delete_remote",
    )
    leaver = env.create_user(gone)
    env.worker().run(until_idle=True)
    assert peer.find(gone) is not None
    env.set_active(leaver, False)
    env.worker().run(until_idle=True)
    assert peer.find(gone) is None
    assert all(j.status == "succeeded" for j in env.jobs()), env.jobs()


def test_discovery_pages_through_scim2_server_and_flags_orphans(env: Env, peer: Peer) -> None:
    marker = uuid.uuid4().hex[:8]
    integration = env.integration(
        "scim2", {"base_url": peer.base_url}, auth=BearerAuth(peer.token), provisioning=False
    )
    env.prov.add_domain(env.org.id, "example.com")
    ours = f"disc.{marker}.owner@example.com"
    env.create_user(ours)
    made = {peer.add(ours)}
    made |= {peer.add(f"disc.{marker}.orphan{n}@example.com") for n in range(4)}
    made.add(peer.add(f"disc.{marker}@partner.org"))

    listed = [a.remote_id for a in load("scim2").iter_accounts(peer.context(), page_size=2)]
    assert len(listed) == len(set(listed)), "a page boundary repeated an account"
    assert made <= set(listed)

    result = sync(env.prov, StaticCredentials(env.auth), env.org.id, integration, page_size=2)
    assert result.ok, result.run.error
    classes = {
        ob.account_id.lower(): ob.classification
        for ob in result.observations
        if marker in ob.account_id
    }
    assert classes.pop(ours) == "managed"
    assert classes.pop(f"disc.{marker}@partner.org") == "external"
    assert set(classes.values()) == {"unknown"} and len(classes) == 4
    assert result.run.counts["seen"] == len(listed)
