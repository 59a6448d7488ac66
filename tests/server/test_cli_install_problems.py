"""What the CLI says when the installation, not the input, is the problem: a missing
database driver or missing migration scripts are one line on stderr (exit 1), never an
import traceback; ``--version`` names the installed distribution."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from scimcore.storage import migrate
from scimserver.cli import main

PG_URL = "postgresql+psycopg://scim@127.0.0.1:1/none"
EXTRA_HINT = 'pip install "scimserver[postgresql]"'


@pytest.fixture
def without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the ``postgresql`` extra were not installed: ``import psycopg`` fails."""
    monkeypatch.setitem(sys.modules, "psycopg", None)


@pytest.mark.parametrize(
    "args",
    [["db", "upgrade"], ["orgs", "list"], ["token", "generate", "default"], ["serve"]],
    ids=["db-upgrade", "orgs-list", "token-generate", "serve"],
)
@pytest.mark.usefixtures("without_psycopg")
def test_postgresql_url_without_the_driver_names_the_extra_on_one_line(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", PG_URL)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "PostgreSQL driver (psycopg)" in lines[0] and EXTRA_HINT in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("without_psycopg")
def test_make_engine_refuses_a_missing_driver_before_connecting() -> None:
    from scimcore.storage.sql import DatabaseDriverMissing, make_engine

    with pytest.raises(DatabaseDriverMissing, match=r"scimserver\[postgresql\]") as caught:
        make_engine(PG_URL)
    assert isinstance(caught.value, ImportError)  # callers catching ImportError still do


def test_a_driver_without_an_extra_is_named_by_its_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scimcore.storage.sql import DatabaseDriverMissing, require_driver

    monkeypatch.setitem(sys.modules, "pymysql", None)
    with pytest.raises(DatabaseDriverMissing, match="'pymysql', which is not installed"):
        require_driver("mysql+pymysql://scim@127.0.0.1/none")


def test_version_prints_the_installed_distribution_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"scimserver, version {version('scimserver')}"


def _scripts(folder: Path, *, checkout: bool = False) -> Path:
    folder.mkdir(parents=True)
    (folder / "env.py").write_text("")
    if checkout:
        (folder.parent / "alembic.ini").write_text("")
    return folder


def test_migrations_are_read_from_the_installed_copy_before_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = _scripts(tmp_path / "packaged")
    checkout = _scripts(tmp_path / "repo" / "alembic", checkout=True)
    monkeypatch.setattr(migrate, "PACKAGED_SCRIPTS", packaged)
    monkeypatch.setattr(migrate, "CHECKOUT_SCRIPTS", checkout)
    assert migrate.script_location() == packaged
    (packaged / "env.py").unlink()
    assert migrate.script_location() == checkout


def test_an_alembic_folder_outside_a_checkout_is_not_taken_for_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, ``parents[2] / "alembic"`` is site-packages/alembic: the library."""
    monkeypatch.setattr(migrate, "PACKAGED_SCRIPTS", tmp_path / "packaged")
    monkeypatch.setattr(migrate, "CHECKOUT_SCRIPTS", _scripts(tmp_path / "alembic"))
    with pytest.raises(migrate.MigrationsNotFound) as caught:
        migrate.script_location()
    assert str(tmp_path / "alembic") not in str(caught.value)


def test_missing_migrations_are_one_line_saying_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "PACKAGED_SCRIPTS", tmp_path / "packaged")
    monkeypatch.setattr(migrate, "CHECKOUT_SCRIPTS", tmp_path / "checkout")
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", f"sqlite:///{tmp_path / 'scim.db'}")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "migrations are missing" in result.stderr and "reinstall" in result.stderr
    assert str(tmp_path / "packaged") in result.stderr
