"""The built package works as a new user installs it, with no source tree anywhere near.

Once per module, the files git knows (tracked and new, none ignored) are copied to a
scratch folder, as a clean checkout, and ``python -m build`` makes the sdist and the
wheel from it (the wheel from the sdist, so the sdist is proven complete too). Each is
installed into a new virtual environment of its own; every command then runs that
environment's ``scimserver`` from an empty folder, with no ``PYTHONPATH``: ``db
upgrade``, ``orgs create --json``, ``token generate --json``, ``serve`` on a free port
of 127.0.0.1, and a ``POST /Users`` that must answer 201. On SQLite, and on a fresh
PostgreSQL database when ``SCIMSERVER_TEST_POSTGRES_URL`` is set.

The dependencies come from the package index as a user's would (pip's cache makes a
second run quick); the new environments are made without pip, and this environment's
pip installs into them (``pip --python``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.multi import free_port, postgres_database, stop_process_groups

from .support import LOOPBACK, USER_SCHEMA, ScimSession

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL_ENV = "SCIMSERVER_TEST_POSTGRES_URL"
BUILD_TIMEOUT = 300.0
INSTALL_TIMEOUT = 600.0
CLI_TIMEOUT = 60.0
STARTUP_TIMEOUT = 30.0
STARTUP_POLL_INTERVAL = 0.1
EXTRA_HINT = 'pip install "scimserver[postgresql]"'


def _run(
    args: list[str], *, timeout: float, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(args)}` exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-4000:]}\nstderr: {proc.stderr[-4000:]}"
        )
    return proc


# --- building -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    version: str


def _clean_checkout(target: Path) -> None:
    """Copy what a fresh clone would hold (plus new files not yet committed): the files
    git tracks or would track, none it ignores (no .venv, build/, *.egg-info)."""
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        timeout=CLI_TIMEOUT,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in this work tree is left out
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    checkout = tmp_path_factory.mktemp("checkout")
    _clean_checkout(checkout)
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(checkout)], timeout=BUILD_TIMEOUT
    )
    (sdist,) = out.glob("scimserver-*.tar.gz")
    (wheel,) = out.glob("scimserver-*-py3-none-any.whl")
    return Dists(sdist, wheel, version=wheel.name.split("-")[1])


# --- installing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """A virtual environment holding only the installed package and its dependencies."""

    venv: Path
    dists: Dists

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The user's environment without anything that could reach the source tree."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SCIMSERVER_", "PYTHON", "VIRTUAL_ENV"))
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONNOUSERSITE"] = "1"
        env["NO_PROXY"] = "*"
        return {**env, **extra}

    def scimserver(
        self, cwd: Path, env: dict[str, str], *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run(
            [str(self.bin / "scimserver"), *args],
            cwd=cwd,
            env=env,
            timeout=CLI_TIMEOUT,
            check=check,
        )

    def pip_install(self, *requirements: str) -> None:
        _run(
            [
                *(sys.executable, "-m", "pip", "--python", str(self.bin / "python"), "install"),
                *("--quiet", "--no-input", "--find-links", str(self.dists.wheel.parent)),
                *requirements,
            ],
            timeout=INSTALL_TIMEOUT,
        )


def _install(tmp_path_factory: pytest.TempPathFactory, dists: Dists, name: str) -> Installed:
    venv = tmp_path_factory.mktemp(name) / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=CLI_TIMEOUT)
    return Installed(venv, dists)


@pytest.fixture(scope="module")
def from_wheel(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Installed:
    installed = _install(tmp_path_factory, dists, "wheel-venv")
    installed.pip_install(f"{dists.wheel}[postgresql]")
    return installed


@dataclass(frozen=True)
class FromSdist:
    installed: Installed
    #: ``db upgrade`` on a PostgreSQL URL before the ``postgresql`` extra was installed.
    without_driver: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def from_sdist(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> FromSdist:
    """The sdist installed bare, as ``pip install scimserver`` does; then the extra is
    added with the very command the missing-driver error prints."""
    installed = _install(tmp_path_factory, dists, "sdist-venv")
    installed.pip_install(str(dists.sdist))
    empty = tmp_path_factory.mktemp("no-driver")
    url = "postgresql+psycopg://scim@127.0.0.1:1/none"
    env = installed.env(SCIMSERVER_DATABASE_URL=url)
    without_driver = installed.scimserver(empty, env, "db", "upgrade", check=False)
    installed.pip_install(f"scimserver[postgresql]=={dists.version}")
    return FromSdist(installed, without_driver)


# --- the scenario -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'scim.db'}"
        return
    server = os.environ.get(POSTGRES_URL_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    with postgres_database(server) as url:
        yield url


def _wait_until_answering(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: object = None
    with requests.Session() as probe:
        probe.trust_env = False
        for _ in range(int(STARTUP_TIMEOUT / STARTUP_POLL_INTERVAL) + 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            try:
                last = probe.get(url, timeout=2, allow_redirects=False).status_code
                if last == 200:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(STARTUP_POLL_INTERVAL)
    raise AssertionError(
        f"the installed scimserver did not answer {url} within {STARTUP_TIMEOUT}s "
        f"(exit code {proc.poll()}, last {last!r})\nlog:\n{log.read_text(errors='replace')}"
    )


def _provision_one_user(installed: Installed, database_url: str, workdir: Path) -> None:
    """The README's install steps from an empty folder, ending in a 201 for POST /Users."""
    empty = workdir / "empty"
    empty.mkdir()
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir()
    port = free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    env = installed.env(SCIMSERVER_DATABASE_URL=database_url, SCIMSERVER_PUBLIC_URL=base_url)

    located = _run(
        [
            str(installed.bin / "python"),
            "-c",
            "import scimcore, scimserver; print(scimcore.__file__); print(scimserver.__file__)",
        ],
        cwd=empty,
        env=env,
        timeout=CLI_TIMEOUT,
    ).stdout.split()
    for module_file in located:
        assert Path(module_file).is_relative_to(installed.venv), located
    version = installed.scimserver(empty, env, "--version").stdout.strip()
    assert version == f"scimserver, version {installed.dists.version}"

    assert "latest revision" in installed.scimserver(empty, env, "db", "upgrade").stdout
    org = json.loads(installed.scimserver(empty, env, "orgs", "create", "Acme", "--json").stdout)
    assert org["tenant_url"] == f"{base_url}/scim/v2/organizations/acme", org
    issued = json.loads(
        installed.scimserver(empty, env, "token", "generate", "acme", "--json").stdout
    )
    assert issued["token"].startswith("scim_"), issued

    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(str(installed.bin / "scimserver"), "serve", "--host", LOOPBACK),
                *("--port", str(port), "--workers", "1", "--threads", "2"),
            ],
            cwd=empty,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(proc, f"{base_url}/healthz", log)
        with ScimSession(
            org["tenant_url"], issued["token"], content_type="application/scim+json"
        ) as scim:
            created = scim.post(
                "/Users", json={"schemas": [USER_SCHEMA], "userName": "ada@example.com"}
            )
        assert created.status_code == 201, (created.status_code, created.text, log.read_text())
        assert created.json()["userName"] == "ada@example.com"
    finally:
        stop_process_groups([proc])


# --- the tests ----------------------------------------------------------------------------


def test_sdist_and_wheel_pass_twine_check(dists: Dists) -> None:
    checked = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.sdist), str(dists.wheel)],
        timeout=CLI_TIMEOUT,
    )
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_wheel_carries_every_migration_inside_scimcore_and_the_license(dists: Dists) -> None:
    names = set(zipfile.ZipFile(dists.wheel).namelist())
    versions = sorted(p.name for p in (REPO_ROOT / "alembic" / "versions").glob("*.py"))
    packaged = sorted(
        n.rsplit("/", 1)[1] for n in names if n.startswith("scimcore/storage/migrations/versions/")
    )
    assert versions and packaged == versions
    assert "scimcore/storage/migrations/env.py" in names
    assert not any(n.startswith("alembic/") for n in names), "would shadow the alembic library"
    info = f"scimserver-{dists.version}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(dists.wheel).read(f"{info}/METADATA").decode()
    for field in ("License-Expression: Apache-2.0", "Project-URL:", "Classifier:"):
        assert field in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "## Install it" in metadata  # the README is the long description


def test_sdist_carries_the_migrations_their_config_and_the_docs(dists: Dists) -> None:
    root = f"scimserver-{dists.version}"
    with tarfile.open(dists.sdist) as sdist:
        names = set(sdist.getnames())
    for name in (
        "alembic/env.py",
        "alembic.ini",
        "setup.py",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "docs/configuration.md",
    ):
        assert f"{root}/{name}" in names, name


def test_installed_wheel_provisions_a_user_from_an_empty_folder(
    from_wheel: Installed, database_url: str, tmp_path: Path
) -> None:
    _provision_one_user(from_wheel, database_url, tmp_path)


def test_installed_sdist_provisions_a_user_from_an_empty_folder(
    from_sdist: FromSdist, database_url: str, tmp_path: Path
) -> None:
    _provision_one_user(from_sdist.installed, database_url, tmp_path)


def test_postgresql_url_without_the_extra_says_which_extra_to_install(
    from_sdist: FromSdist,
) -> None:
    result = from_sdist.without_driver
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and EXTRA_HINT in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_first_command_on_the_default_sqlite_database_creates_the_schema(
    from_wheel: Installed, tmp_path: Path
) -> None:
    """No URL and no ``db upgrade``: the default ``instance/scimserver.db`` is made and
    migrated on first use, from the installed package's own migrations."""
    env = from_wheel.env()
    created = from_wheel.scimserver(tmp_path, env, "orgs", "create", "first", "--json")
    assert json.loads(created.stdout)["slug"] == "first"
    assert (tmp_path / "instance" / "scimserver.db").is_file()


def test_an_embedding_application_migrates_from_python(
    from_wheel: Installed, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    code = (
        "import sys, sqlalchemy as sa\n"
        "from scimcore.storage.migrate import script_location, upgrade\n"
        "upgrade(sys.argv[1])\n"
        "engine = sa.create_engine(sys.argv[1])\n"
        "with engine.connect() as conn:\n"
        "    print(conn.exec_driver_sql('select version_num from alembic_version').scalar())\n"
        "print(script_location())\n"
    )
    out = _run(
        [str(from_wheel.bin / "python"), "-c", code, url],
        cwd=tmp_path,
        env=from_wheel.env(),
        timeout=CLI_TIMEOUT,
    ).stdout.split()
    revision, scripts = out
    from alembic.script import ScriptDirectory

    from scimcore.storage.migrate import alembic_config

    assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert Path(scripts).is_relative_to(from_wheel.venv)
