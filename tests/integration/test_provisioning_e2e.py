"""Done when (issue 6): Okta -> our service -> scim2 connector -> a second instance of our
service, over real HTTP between real processes; then discovery finds an orphan there.

The upstream is the session's ``live_server``; the downstream is a second
``scimserver serve`` on its own SQLite database. Provisioning runs as ``scimserver
worker --once`` and discovery as ``scimserver sync`` processes, configured only through
the CLI (the downstream token goes into the credential vault, encrypted).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scimcore.accounts import KeyRing

from .conftest import (
    CLI_TIMEOUT,
    LOOPBACK,
    REPO_ROOT,
    LiveServer,
    Org,
    _cli_command,
    _create_org,
    _free_port,
    _run_cli,
    _stop,
    _wait_until_answering,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Downstream:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update(
            {"Authorization": f"Bearer {org.token}", "Content-Type": "application/scim+json"}
        )

    def find(self, user_name: str) -> dict[str, Any] | None:
        resp = self.http.get(
            f"{self.org.tenant_url}/Users",
            params={"filter": f'userName eq "{user_name}"'},
            timeout=10,
        )
        resp.raise_for_status()
        found = resp.json()["Resources"]
        return found[0] if found else None


@pytest.fixture(scope="module")
def downstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Downstream]:
    """A second, separately started instance of our service: the downstream SaaS."""
    workdir = tmp_path_factory.mktemp("downstream")
    port = _free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": f"sqlite:///{workdir / 'downstream.db'}",
        "SCIMSERVER_PUBLIC_URL": base_url,
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "*",
    }
    _run_cli(env, "db", "upgrade")
    org = _create_org(env, f"saas-{secrets.token_hex(4)}")
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*_cli_command(), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", "1"],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(proc, f"{org.tenant_url}/ServiceProviderConfig", log_path)
        yield Downstream(org)
    finally:
        _stop(proc)


def _cli(env: dict[str, str], *args: str, input: str | None = None) -> str:
    proc = subprocess.run(
        [*_cli_command(), *args],
        env=env,
        cwd=REPO_ROOT,
        input=input,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"scimserver {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_okta_user_is_provisioned_deactivated_downstream_and_orphans_are_discovered(
    live_server: LiveServer, downstream: Downstream, tmp_path: Path
) -> None:
    env = {**live_server.env, "SCIMSERVER_SECRET_KEYS": KeyRing.generate_key()}
    org = live_server.create_org("prov")
    service = f"Downstream {secrets.token_hex(3)}"
    _cli(env, "services", "create", org.name, service, "--kind", "scim2")
    _cli(
        env,
        "integrations",
        "credential",
        "set",
        org.name,
        service,
        "--kind",
        "bearer",
        input=downstream.org.token + "\n",
    )
    connected = json.loads(
        _cli(
            env,
            "services",
            "connect",
            org.name,
            service,
            "--connector",
            "scim2",
            "--setting",
            f"base_url={downstream.org.tenant_url}",
            "--provisioning",
            "--test",
            "--json",
        )
    )
    assert connected["connection"]["ok"], connected
    assert downstream.org.token not in json.dumps(connected)
    _cli(env, "domains", "add", org.name, "example.com")

    # Okta's create flow: look the user up, then POST.
    okta = live_server.session(org, content_type="application/scim+json")
    user_name = f"okta.user.{secrets.token_hex(3)}@example.com"
    lookup = okta.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert lookup.json()["totalResults"] == 0
    created = okta.post(
        "/Users",
        json={
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "name": {"givenName": "Okta", "familyName": "User"},
            "emails": [{"primary": True, "value": user_name, "type": "work"}],
            "displayName": "Okta User",
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    stats = json.loads(_cli(env, "worker", "--once").strip().splitlines()[-1])
    assert stats["succeeded"] == 1, stats
    remote = downstream.find(user_name)
    assert remote is not None and remote["active"] is True
    assert remote["name"]["familyName"] == "User" and remote["externalId"] == user_id

    # Okta deactivates: PATCH active=false.
    patched = okta.patch(
        f"/Users/{user_id}",
        json={
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert patched.status_code == 200, patched.text
    _cli(env, "worker", "--once")
    remote = downstream.find(user_name)
    assert remote is not None and remote["active"] is False

    # Someone creates an account directly in the downstream service.
    stranger = f"stranger.{secrets.token_hex(3)}@example.com"
    made = downstream.http.post(
        f"{downstream.org.tenant_url}/Users",
        json={"schemas": [USER_SCHEMA], "userName": stranger, "active": True},
        timeout=10,
    )
    assert made.status_code == 201, made.text

    report = json.loads(_cli(env, "sync", org.name, service, "--json"))
    assert report["status"] == "succeeded", report
    classes = {a["account_id"].lower(): a["classification"] for a in report["accounts"]}
    assert classes[stranger] == "unknown"  # the orphan
    assert classes[user_name] == "managed"  # deactivated here and there
    assert report["counts"]["orphans"] >= 1
