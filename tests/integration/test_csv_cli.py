"""The CSV workflow through the real CLI: the sample files load and round-trip exactly.

Follows the sample files' walk-through (tests/samples/, docs/csv.md): users created by a
user CSV, the five services created by ``scimserver services create``, the sample
imported, exported (same rows, ``operation`` and ``servicePassword`` blank,
``immutableId`` filled in), then the update sample applied.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet

from scimcore.adapters.connectors import Capability, RemoteAccount
from scimcore.adapters.connectors.manual import ManualConnector
from scimcore.provisioning.connector import ConnectorContext
from scimcore.provisioning.registry import register
from scimcore.storage.sql import make_engine
from scimcore.storage.sql.tables import events, organizations
from scimserver.cli import main

from .. import csv_rules

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SERVICES = [
    ("Google Workspace", "google_workspace", []),
    ("Microsoft 365", "microsoft_365", ["--license-profile", "E3 標準"]),
    ("cybozu.com", "cybozu", ["--license-profile", "Garoon"]),
    ("社内ポータル", "form_based", []),
    ("Slack", "scim2", ["--scim-id-mode", "auto"]),
]
USERS_CSV = (
    "operation,userName,lastName,firstName,displayName\r\n"
    "CREATE,test@example.com,Test,Taro,Test Taro\r\n"
    "CREATE,hanako.yamada@example.com,山田,花子,山田 花子\r\n"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    env = {
        "SCIMSERVER_DATABASE_URL": url,
        "SCIMSERVER_SECRET_KEYS": Fernet.generate_key().decode(),
    }
    yield Cli(CliRunner(env=env), tmp_path, url)


class Cli:
    def __init__(self, runner: CliRunner, tmp: Path, url: str) -> None:
        self.runner = runner
        self.tmp = tmp
        self.url = url

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    def file(self, name: str, data: bytes) -> str:
        path = self.tmp / name
        path.write_bytes(data)
        return str(path)


def _prepare(cli: Cli) -> str:
    org = "csv-" + cli.tmp.name[-8:].lower().replace("_", "-")
    cli("orgs", "create", org)
    for name, kind, extra in SERVICES:
        cli("services", "create", org, name, "--kind", kind, *extra)
    users = cli.file("users.csv", USERS_CSV.encode())
    assert "2 created" in cli("csv", "import", org, users, "--kind", "users").stdout
    return org


def test_sample_files_load_and_round_trip_through_the_cli(cli: Cli) -> None:
    org = _prepare(cli)
    sample = SAMPLES / "service-accounts.csv"
    result = cli("csv", "import", org, str(sample), "--kind", "service-accounts")
    assert result.stdout.strip().endswith(
        "6 created, 0 updated, 0 unchanged, 0 deleted, 0 skipped, 0 failed"
    )
    exported = cli("csv", "export", org, "--kind", "service-accounts").stdout_bytes.decode()
    lines = sample.read_bytes().decode().split("\r\n")
    expected = [re.sub(r'^"CREATE"', '""', line) for line in lines]
    expected[5] = expected[5].replace('"p@ss,word ""quoted"" 1"', '""')
    got = exported.split("\r\n")
    # The generated immutableId is random base64; when it starts with "+" the export's
    # formula-injection guard prefixes it with "'" (and must do exactly then).
    immutable = re.fullmatch(r'.*"E3 標準","(\'?([A-Za-z0-9+/]{22}==))","",""', got[3])
    assert immutable is not None, got[3]
    assert (immutable.group(1) != immutable.group(2)) == immutable.group(2).startswith("+")
    expected[3] = expected[3].replace('"E3 標準",""', f'"E3 標準","{immutable.group(1)}"')
    assert got == expected

    update = SAMPLES / "service-accounts-update.csv"
    result = cli("csv", "import", org, str(update), "--kind", "service-accounts")
    assert "0 created, 1 updated, 0 unchanged, 1 deleted, 1 skipped, 0 failed" in result.stdout
    exported_after = cli("csv", "export", org, "--kind", "service-accounts").stdout_bytes
    after = exported_after.decode().split("\r\n")
    assert after[1].startswith(
        '"","Google Workspace","test@example.com","test@example.com","","FALSE"'
    )
    assert after[2].startswith(
        '"","Google Workspace","hanako.yamada@example.com","hanako.yamada@example.com","","FALSE"'
    )
    assert [line for line in after if "cybozu.com" in line] == []
    assert len([line for line in after if line]) == 6


def test_rejected_file_exits_2_and_lists_every_problem(cli: Cli) -> None:
    org = _prepare(cli)
    bad = cli.file("bad.csv", b"userId,USERID\r\nx,y\r\n")
    result = cli("csv", "import", org, bad, "--kind", "service-accounts", code=2)
    assert "bad.csv was rejected; nothing was imported" in result.stderr
    assert "appears twice" in result.stderr and "no 'operation' column" in result.stderr


def test_row_failures_exit_1_and_the_result_file_lists_them(cli: Cli) -> None:
    org = _prepare(cli)
    data = (SAMPLES / "service-accounts.csv").read_bytes() + (
        b'"CREATE","Slack","nobody@example.com","x","","","","","",""\r\n'
    )
    path = cli.file("accounts.csv", data)
    result_path = cli.tmp / "result.csv"
    result = cli(
        "csv", "import", org, path, "--kind", "service-accounts",
        "--result", str(result_path), code=1,
    )  # fmt: skip
    assert "row 8: UNKNOWN_USER: userId: no user with userName 'nobody@example.com'" in (
        result.stderr
    )
    assert "6 created, 0 updated, 0 unchanged, 0 deleted, 0 skipped, 1 failed" in result.stdout
    text = result_path.read_bytes().decode()
    assert "p@ss" not in text and "servicePassword" not in text
    assert text.split("\r\n")[7].endswith(
        '"failed","UNKNOWN_USER","userId: no user with userName \'nobody@example.com\'"'
    )


def test_atomic_and_dry_run_write_nothing(cli: Cli) -> None:
    org = _prepare(cli)
    data = (SAMPLES / "service-accounts.csv").read_bytes() + (
        b'"CREATE","Slack","nobody@example.com","x","","","","","",""\r\n'
    )
    path = cli.file("accounts.csv", data)
    result = cli("csv", "import", org, path, "--kind", "service-accounts", "--atomic", code=1)
    assert "rolled back, nothing was written" in result.stdout
    sample = str(SAMPLES / "service-accounts.csv")
    result = cli("csv", "import", org, sample, "--kind", "service-accounts", "--dry-run")
    assert "dry run, nothing was written: 6 created" in result.stdout
    exported = cli("csv", "export", org, "--kind", "service-accounts").stdout_bytes
    assert exported.count(b"\r\n") == 1  # the header only


def test_export_options_bom_and_formula_guard(cli: Cli) -> None:
    org = _prepare(cli)
    data = (
        b"operation,serviceDisplayName,userId,accountId\r\nCREATE,Slack,test@example.com,=1+1\r\n"
    )
    cli("csv", "import", org, cli.file("f.csv", data), "--kind", "service-accounts")
    out = cli.tmp / "out.csv"
    cli("csv", "export", org, "--kind", "service-accounts", "--output", str(out), "--bom")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert '"\'=1+1"' in out.read_bytes().decode("utf-8-sig")
    raw = cli("csv", "export", org, "--kind", "service-accounts", "--no-formula-guard").stdout
    assert '"=1+1"' in raw


def test_services_list_and_duplicate_name(cli: Cli) -> None:
    org = _prepare(cli)
    listed = cli("services", "list", org).stdout
    assert "Microsoft 365\tmicrosoft_365\tlicense profiles: E3 標準" in listed
    result = cli("services", "create", org, "Slack", "--kind", "scim2", code=1)
    assert "A service named 'Slack' already exists" in result.stderr


# -- the rules of docs/csv.md, case by case (tests/csv_rules.py) ---------------------------


def _account_events(cli: Cli, org: str) -> int:
    engine = make_engine(cli.url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(events.join(organizations))
                    .where(organizations.c.slug == org, events.c.resource_type == "ServiceAccount")
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", csv_rules.CASES, ids=lambda case: case.id)
def test_service_account_rule_through_the_cli(cli: Cli, case: csv_rules.Case) -> None:
    org = "rules-" + cli.tmp.name[-8:].lower().replace("_", "-")
    cli("orgs", "create", org)
    for name, kind, profiles in csv_rules.SERVICES:
        flags = [arg for p in profiles for arg in ("--license-profile", p)]
        cli("services", "create", org, name, "--kind", kind, *flags)
    users = "operation,userName\r\n" + "".join(f"CREATE,{u}\r\n" for u in csv_rules.USERS)
    cli("csv", "import", org, cli.file("users.csv", users.encode()), "--kind", "users")
    if case.setup:
        setup = cli.file("setup.csv", csv_rules.csv_bytes(case.setup))
        cli("csv", "import", org, setup, "--kind", "service-accounts")
    export = ("csv", "export", org, "--kind", "service-accounts")
    immutable = csv_rules.immutable_id(cli(*export).stdout_bytes.decode())
    before = _account_events(cli, org)
    rows = cli.file("rows.csv", csv_rules.csv_bytes(case.rows, immutable))
    result_path = cli.tmp / "result.csv"
    failed = any(result == "failed" for result, _ in case.expect)
    cli(
        "csv", "import", org, rows, "--kind", "service-accounts", "--result", str(result_path),
        code=1 if failed else 0,
    )  # fmt: skip
    results = list(csv.DictReader(io.StringIO(result_path.read_bytes().decode("utf-8-sig"))))
    exported = cli(*export).stdout_bytes.decode()
    csv_rules.check(case, results, exported, _account_events(cli, org) - before, immutable)


class _SignInReporter(ManualConnector):
    """Lists one account with the last sign-in its service reports (in JST)."""

    name: ClassVar[str] = "csv_cli_sign_ins"
    capabilities: ClassVar[Capability] = Capability.DISCOVER

    def iter_accounts(self, ctx: ConnectorContext, *, page_size: int = 100) -> Iterator[Any]:
        jst = timezone(timedelta(hours=9))
        yield RemoteAccount(
            "r-1",
            "test@example.com",
            email="test@example.com",
            last_access=datetime(2026, 12, 1, 9, 30, tzinfo=jst),
        )


register(_SignInReporter)


def test_last_access_time_comes_from_discovery_and_an_upload_ignores_it(cli: Cli) -> None:
    org = _prepare(cli)
    cli("services", "create", org, "Wiki", "--kind", "scim2")
    cli("services", "connect", org, "Wiki", "--connector", "csv_cli_sign_ins")
    assert json.loads(cli("sync", org, "Wiki", "--json").stdout)["status"] == "succeeded"
    export = ("csv", "export", org, "--kind", "service-accounts")
    exported = cli(*export).stdout_bytes.decode()
    row = '"Wiki","test@example.com","test@example.com","2026-12-01T00:30:00Z"'
    assert row in exported
    upload = '"operation","serviceDisplayName","userId","accountId","lastAccessTime"\r\n' + (
        row.replace('"Wiki"', '"UPDATE","Wiki"').replace("2026-12-01T00:30:00Z", "") + "\r\n"
    )
    result = cli(
        "csv", "import", org, cli.file("up.csv", upload.encode()), "--kind", "service-accounts"
    )
    assert "0 updated, 1 unchanged" in result.stdout
    assert row in cli(*export).stdout_bytes.decode()
