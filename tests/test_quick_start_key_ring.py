"""The quick start's key ring: ``python3 run.py serve`` makes ``secret-keys`` beside the
SQLite database once (mode 0600), reuses it on later starts and says where it is; a
configured SCIMSERVER_SECRET_KEYS wins, and no other database ever gets a key."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from scimcore.accounts import IntegrationSettings, KeyRing
from scimcore.adapters.connectors.credentials import BearerToken, CredentialVault
from scimcore.storage.sql.credentials import SqlCredentialStore
from scimserver import create_app
from scimserver.config import ConfigError, Settings, local_key_file

ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = ("SCIMSERVER_SECRET_KEYS", "SCIMSERVER_SECRET_KEYS_FILE", "SCIMSERVER_DATABASE_URL")


def _run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fresh_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A quick-start environment: nothing configured, the instance in a fresh directory."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    instance = tmp_path / "instance"
    monkeypatch.setenv("SCIMSERVER_INSTANCE_DIR", str(instance))
    return instance


def test_first_start_makes_a_0600_key_file_and_the_next_start_reuses_it(
    fresh_install: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_py = _run_py()
    line = run_py.local_key_ring()
    key_file = fresh_install / "secret-keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert line is not None and "secret-keys (made now" in line
    assert "in production set SCIMSERVER_SECRET_KEYS" in line
    first = key_file.read_text()
    assert Settings.from_env().secret_keys == (first.strip(),)

    monkeypatch.delenv("SCIMSERVER_SECRET_KEYS_FILE")  # a new start: a new process
    again = run_py.local_key_ring()
    assert again is not None and "made on the first start" in again
    assert key_file.read_text() == first


def test_a_credential_stored_under_the_local_key_reads_back_after_a_restart(
    fresh_install: Path,
) -> None:
    path, created = local_key_file(Settings.from_env().database_url)
    assert created and path == fresh_install / "secret-keys"
    env = {"SCIMSERVER_INSTANCE_DIR": str(fresh_install), "SCIMSERVER_SECRET_KEYS_FILE": str(path)}

    def vault() -> tuple[CredentialVault, int]:
        app = create_app(Settings.from_env(env))
        store = app.extensions["scimcore"]["store"]
        org = store.get_organization("default") or store.create_organization("default", "D")
        with app.extensions["scimserver_admin"].accounts.accounts(org.id) as session:
            found = [i for i in session.integrations() if i.display_name == "Wiki"]
            integration = (
                found[0]
                if found
                else session.create_integration("Wiki", "scim2", IntegrationSettings())
            )
        keyring = app.extensions["scimserver_admin"].keyring
        return CredentialVault(SqlCredentialStore(store.engine), keyring), integration.id

    first, integration_id = vault()
    first.put(integration_id, BearerToken("tok-survives-restart-1234"))
    assert local_key_file(Settings.from_env(env).database_url) == (path, False)
    restarted, same_id = vault()
    assert same_id == integration_id
    assert restarted.access_token(integration_id) == "tok-survives-restart-1234"


def test_a_configured_key_ring_wins_over_the_key_file(fresh_install: Path) -> None:
    path, _ = local_key_file(Settings.from_env().database_url)
    configured = KeyRing.generate_key()
    settings = Settings.from_env(
        {
            "SCIMSERVER_INSTANCE_DIR": str(fresh_install),
            "SCIMSERVER_SECRET_KEYS": configured,
            "SCIMSERVER_SECRET_KEYS_FILE": str(path),
        }
    )
    assert settings.secret_keys == (configured,)


def test_run_py_makes_no_key_when_a_key_ring_is_configured(
    fresh_install: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIMSERVER_SECRET_KEYS", KeyRing.generate_key())
    assert _run_py().local_key_ring() is None
    assert not (fresh_install / "secret-keys").exists()


def test_no_key_is_made_for_postgresql(
    fresh_install: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    with pytest.raises(ConfigError, match="set SCIMSERVER_SECRET_KEYS"):
        local_key_file(url)
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", url)
    line = _run_py().local_key_ring()
    assert line is not None and "credentials cannot be stored" in line
    assert not (fresh_install / "secret-keys").exists()
    assert "SCIMSERVER_SECRET_KEYS_FILE" not in os.environ


def test_an_unreadable_or_empty_key_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SCIMSERVER_SECRET_KEYS_FILE: cannot read"):
        Settings.from_env({"SCIMSERVER_SECRET_KEYS_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="holds no key"):
        Settings.from_env({"SCIMSERVER_SECRET_KEYS_FILE": str(tmp_path / "empty")})
