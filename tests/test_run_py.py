"""run.py, the quick start's entry point (standard library only, so importable here)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
ISSUED = {"tenant_url": "http://127.0.0.1:8000/scim/v2/organizations/default", "token": "scim_x"}


def _run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serve_banner_points_a_fresh_install_at_the_console_and_the_admin_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    text = _run_py().banner(ISSUED, "http://127.0.0.1:8000/admin/", has_admin=False)
    assert "Admin console:  http://127.0.0.1:8000/admin/" in text
    cli = os.path.join(".venv", "Scripts" if os.name == "nt" else "bin", "scimserver")
    assert f"{cli} admins create you@example.com --org default" in text
    assert ISSUED["tenant_url"] in text and "Bearer scim_x" in text


def test_serve_banner_skips_the_admin_command_once_an_administrator_exists() -> None:
    text = _run_py().banner(ISSUED, "http://127.0.0.1:8000/admin/", has_admin=True)
    assert "Admin console:  http://127.0.0.1:8000/admin/" in text
    assert "admins create" not in text
