"""``scimserver csv`` (import/export) and ``scimserver services`` (integrations).

Thin glue: parse arguments, call :mod:`scimcore.adapters.csv` or the account store,
print. Exit codes of ``csv import``: 0 when no row failed, 1 when a row failed (or
``--atomic`` rolled the file back), 2 when the file was rejected as a whole.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click

from scimcore import ScimError
from scimcore.accounts import (
    DEPROVISION_POLICIES,
    RESOURCE_ID_MODES,
    SERVICE_KINDS,
    IntegrationSettings,
)
from scimcore.adapters.csv import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    CsvFileError,
    ImportOptions,
    ImportReport,
    ServiceAccountImporter,
    UserImporter,
    export_service_accounts,
    export_users,
)
from scimcore.compat import get_profile

from . import common

KINDS = click.Choice(sorted(FORMATS), case_sensitive=False)
#: Failed rows printed by ``csv import``; the result file (``--result``) has them all.
SHOWN_FAILURES = 20


@click.group(help="Import and export CSV files (service accounts, users).")
def csv() -> None:
    pass


@csv.command("import", help="Apply a CSV file to an organization (rows in file order).")
@click.argument("org")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=KINDS, required=True, help="Which CSV format the file is.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--atomic", is_flag=True, help="If any row fails, roll the whole file back.")
@click.option(
    "--result",
    "result_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the per-row result CSV here (original columns + result, errorCode, message).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    help="Rows per transaction (default: 10000 for service accounts, 500 for users).",
)
def csv_import(
    org: str,
    file: Path,
    kind: str,
    dry_run: bool,
    atomic: bool,
    result_path: Path | None,
    batch_size: int | None,
) -> None:
    current, organization = common.open_org(org)
    store = current.store
    options = ImportOptions(atomic=atomic, dry_run=dry_run, batch_size=batch_size)
    with file.open("rb") as f:
        data = f.read(DEFAULT_MAX_BYTES + 1)
    importer: ServiceAccountImporter | UserImporter
    if kind.lower() == "users":
        importer = UserImporter(
            store,
            organization.id,
            keyring=current.keyring,
            options=options,
            profile=get_profile(organization.profile),
        )
    else:
        importer = ServiceAccountImporter(
            current.accounts, organization.id, keyring=current.keyring, options=options
        )
    try:
        with _progress() as progress:
            report = importer.run(data, progress)
    except CsvFileError as exc:
        for warning in exc.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"error: {file.name} was rejected; nothing was imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    _print_report(report, file.name)
    if result_path is not None:
        with result_path.open("wb") as out:
            report.write_result_csv(out, FORMATS[kind.lower()])
    if report.failed or report.rolled_back:
        sys.exit(1)


@contextmanager
def _progress() -> Iterator[Any]:
    """A progress bar on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="importing", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def _print_report(report: ImportReport, name: str) -> None:
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    failures = report.failed
    for r in failures[:SHOWN_FAILURES]:
        click.echo(f"row {r.number}: {r.error_code}: {r.message}", err=True)
    if len(failures) > SHOWN_FAILURES:
        click.echo(
            f"... and {len(failures) - SHOWN_FAILURES} more failed rows (see --result)", err=True
        )
    click.echo(f"{name}: {report.summary()}")


@csv.command("export", help="Write an organization's data as CSV (streamed).")
@click.argument("org")
@click.option("--kind", type=KINDS, required=True, help="Which CSV format to write.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option("--bom", is_flag=True, help="Start with a UTF-8 BOM (for Excel).")
@click.option(
    "--no-formula-guard",
    is_flag=True,
    help="Do not prefix cells starting with = + - @ with ' (for machine round-trips).",
)
def csv_export(org: str, kind: str, output: Path | None, bom: bool, no_formula_guard: bool) -> None:
    current, organization = common.open_org(org)

    def write(out: BinaryIO) -> int:
        if kind.lower() == "users":
            return export_users(
                current.store, organization.id, out, bom=bom, formula_guard=not no_formula_guard
            )
        return export_service_accounts(
            current.accounts, organization.id, out, bom=bom, formula_guard=not no_formula_guard
        )

    if output is None:
        write(sys.stdout.buffer)
        sys.stdout.flush()
        return
    with output.open("wb") as out:
        count = write(out)
    click.echo(f"wrote {count} rows to {output}", err=True)


@click.group(help="Services (integrations) an organization uses.")
def services() -> None:
    pass


@services.command("create", help="Create a manual integration (accounts come from CSV).")
@click.argument("org")
@click.argument("name")
@click.option("--kind", type=click.Choice(SERVICE_KINDS), required=True)
@click.option(
    "--license-profile", "profiles", multiple=True, help="A license profile (repeatable)."
)
@click.option(
    "--scim-id-mode",
    type=click.Choice(RESOURCE_ID_MODES),
    default="auto",
    show_default=True,
    help="How scimUserResourceId is filled (scim2 services).",
)
@click.option(
    "--on-delete",
    type=click.Choice(DEPROVISION_POLICIES),
    default="deactivate_remote",
    show_default=True,
    help="What removing a link does to the remote account.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def services_create(
    org: str,
    name: str,
    kind: Any,
    profiles: tuple[str, ...],
    scim_id_mode: Any,
    on_delete: Any,
    as_json: bool,
) -> None:
    current, organization = common.open_org(org)
    settings = IntegrationSettings(
        license_profiles=tuple(p.strip() for p in profiles if p.strip()),
        scim_user_resource_id_mode=scim_id_mode,
        on_service_account_delete=on_delete,
    )
    try:
        with current.accounts.accounts(organization.id) as session:
            integration = session.create_integration(name.strip(), kind, settings)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    data = _integration_data(integration)
    click.echo(
        json.dumps(data)
        if as_json
        else f"Created service {integration.display_name!r} ({integration.kind}) "
        f"in {organization.slug}"
    )


@services.command(
    "update", help="Rename a service, change its license profiles or its deprovisioning policy."
)
@click.argument("org")
@click.argument("name")
@click.option("--rename", help="The service's new name.")
@click.option(
    "--add-license-profile", "added", multiple=True, help="A license profile to add (repeatable)."
)
@click.option(
    "--remove-license-profile",
    "removed",
    multiple=True,
    help="A license profile to remove (repeatable); refused while accounts hold it.",
)
@click.option(
    "--on-delete",
    type=click.Choice(DEPROVISION_POLICIES),
    help="What removing a link does to the remote account.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def services_update(
    org: str,
    name: str,
    rename: str | None,
    added: tuple[str, ...],
    removed: tuple[str, ...],
    on_delete: Any,
    as_json: bool,
) -> None:
    current, organization = common.open_org(org)
    integration = common.integration(current, organization, name)
    profiles = None
    if added or removed:
        gone = {p.strip() for p in removed}
        kept = [p for p in integration.settings.license_profiles if p not in gone]
        profiles = kept + [p.strip() for p in added if p.strip() and p.strip() not in kept]
    try:
        with current.accounts.accounts(organization.id) as session:
            updated = session.update_integration(
                integration.id,
                display_name=rename.strip() if rename is not None else None,
                license_profiles=profiles,
                on_service_account_delete=on_delete,
            )
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    data = _integration_data(updated)
    profiles_text = ", ".join(data["license_profiles"]) or "none"
    common.emit(
        as_json,
        data,
        f"Updated service {updated.display_name!r}: license profiles {profiles_text}; "
        f"on delete {updated.settings.on_service_account_delete}",
    )


@services.command(
    "delete",
    help="Delete a service and what is recorded about it (its accounts, jobs, credential); "
    "the accounts at the service are not touched.",
)
@click.argument("org")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def services_delete(org: str, name: str, yes: bool, as_json: bool) -> None:
    current, organization = common.open_org(org)
    integration = common.integration(current, organization, name)
    if not yes:
        click.confirm(
            f"Delete {integration.display_name!r} and forget its accounts here?", abort=True
        )
    try:
        with current.accounts.accounts(organization.id) as session:
            forgotten = session.delete_integration(integration.id)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    common.emit(
        as_json,
        {"deleted": integration.id, "accounts_forgotten": forgotten},
        f"Deleted service {integration.display_name!r} ({forgotten} account(s) forgotten; "
        "nothing was changed at the service)",
    )


@services.command("list", help="List an organization's services.")
@click.argument("org")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def services_list(org: str, as_json: bool) -> None:
    current, organization = common.open_org(org)
    with current.accounts.accounts(organization.id, readonly=True) as session:
        rows = [_integration_data(i) for i in session.integrations()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        profiles = ", ".join(row["license_profiles"]) or "-"
        click.echo(f"{row['display_name']}\t{row['kind']}\tlicense profiles: {profiles}")


def _integration_data(integration: Any) -> dict[str, Any]:
    s = integration.settings
    return {
        "id": integration.id,
        "display_name": integration.display_name,
        "kind": integration.kind,
        "is_manual": integration.is_manual,
        "license_profiles": list(s.license_profiles),
        "scim_user_resource_id_mode": s.scim_user_resource_id_mode,
        "on_service_account_delete": s.on_service_account_delete,
        "created": integration.created.isoformat(),
    }
