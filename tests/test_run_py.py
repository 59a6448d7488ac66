"""run.py, the quick start's entry point (standard library only, so importable here)."""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from scimcore.accounts import KeyRing

ROOT = Path(__file__).resolve().parent.parent
TENANT_URL = "http://127.0.0.1:8000/scim/v2/organizations/default"
NEW_ORG: dict[str, Any] = {"slug": "default", "tenant_url": TENANT_URL, "scim_enabled": True}
ISSUED = {"tenant_url": TENANT_URL, "token": "scim_x"}
CONSOLE = "http://127.0.0.1:8000/admin/"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def _run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _org_with_token(status: str = "active", **extra: Any) -> dict[str, Any]:
    token = {"prefix": "scim_ab12", "status": status, "created": "2026-03-01T11:00:00"}
    return {**NEW_ORG, "token": token, **extra}


def test_serve_banner_points_a_fresh_install_at_the_console_and_the_admin_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    text = _run_py().banner(NEW_ORG, ISSUED, CONSOLE, has_admin=False)
    assert "Admin console:  http://127.0.0.1:8000/admin/" in text
    cli = os.path.join(".venv", "Scripts" if os.name == "nt" else "bin", "scimserver")
    assert f"{cli} admins create you@example.com --org default" in text
    assert TENANT_URL in text and "Bearer scim_x" in text


def test_serve_banner_skips_the_admin_command_once_an_administrator_exists() -> None:
    text = _run_py().banner(NEW_ORG, ISSUED, CONSOLE, has_admin=True)
    assert "Admin console:  http://127.0.0.1:8000/admin/" in text
    assert "admins create" not in text


def test_first_start_shows_the_new_token_once() -> None:
    text = _run_py().banner(NEW_ORG, ISSUED, CONSOLE, has_admin=True)
    assert "(Okta 'API Token'):  scim_x" in text
    assert "shown once" in text and "later starts keep it" in text


def test_later_start_shows_the_token_prefix_age_and_how_to_rotate_it() -> None:
    text = _run_py().banner(_org_with_token(), None, CONSOLE, has_admin=True, now=NOW)
    assert "set (scim_ab12…, made 3 days ago); kept as it is" in text
    assert "token generate default" in text and "Generate in the admin console" in text
    assert "Bearer <the token>" in text and TENANT_URL in text
    assert "SCIM access is off" not in text


def test_later_start_with_a_revoked_token_says_scim_access_is_off() -> None:
    text = _run_py().banner(_org_with_token("revoked"), None, CONSOLE, has_admin=True, now=NOW)
    assert "revoked (scim_ab12…" in text and "SCIM access is off" in text
    assert "token generate default" in text


def test_later_start_of_a_disabled_organization_says_how_to_enable_it() -> None:
    org = _org_with_token(scim_enabled=False)
    text = _run_py().banner(org, None, CONSOLE, has_admin=True, now=NOW)
    assert "SCIM access is off (orgs disable)" in text and "orgs enable default" in text


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(5, "less than a minute"), (60, "1 minute"), (7199, "1 hour"), (3 * 86400, "3 days")],
)
def test_token_age_is_said_in_its_largest_whole_unit(seconds: int, said: str) -> None:
    from datetime import timedelta

    assert _run_py().age(timedelta(seconds=seconds)) == said


def test_restarting_keeps_the_token_an_idp_already_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two starts on one database: the second makes no token, and the first one's
    secret still authenticates (before, every start replaced it)."""
    from scimserver import Settings, create_app
    from scimserver.cli import main

    url = f"sqlite:///{tmp_path / 'scim.db'}"
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", url)
    monkeypatch.setenv("SCIMSERVER_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("SCIMSERVER_SECRET_KEYS", KeyRing.generate_key())
    run_py = _run_py()
    calls: list[tuple[str, ...]] = []

    def cli(*args: str, capture: bool = False) -> str:
        calls.append(args)
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    monkeypatch.setattr(run_py, "cli", cli)
    first = run_py.prepare()
    assert ("token", "generate", "default", "--json") in calls
    secret = first.split("(Okta 'API Token'):  ", 1)[1].split()[0]
    assert secret.startswith("scim_")

    calls.clear()
    second = run_py.prepare()
    assert not any(call[:2] == ("token", "generate") for call in calls)
    assert secret not in second
    prefix = json.loads(cli("orgs", "list", "--json"))[0]["token"]["prefix"]
    assert f"set ({prefix}…, made less than a minute ago)" in second

    client = create_app(Settings.from_env()).test_client()
    answer = client.get(
        "/scim/v2/organizations/default/Users", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 200
