"""The ``scimserver`` command group and its own commands (db, orgs, token, serve).

Other tools script against these names and JSON keys:
``orgs create --json`` prints ``tenant_url``; ``token generate --json`` prints ``token``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from scimcore import Organization, ScimError, issue_token
from scimcore.compat import DEFAULT_PROFILE, get_profile

from ..config import Settings
from ..conformance.cli import check
from ..wiring import require_driver, setup_problem
from . import common
from .accounts import accounts
from .admins import admins
from .credentials import integrations, keys
from .csv_files import csv, services
from .provisioning import connectors, domains, events, jobs, sync, worker


class _Main(click.Group):
    """The command group: a failure the user fixes by installing or reinstalling
    something is one line on stderr (exit 1), not an import traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ImportError, RuntimeError) as exc:
            if setup_problem(exc):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=_Main, help="SCIM 2.0 service provider: run it, manage organizations and tokens.")
@click.version_option(package_name="scimserver", prog_name="scimserver")
def main() -> None:
    pass


@main.group(help="Database schema management.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply all migrations to the configured database.")
def db_upgrade() -> None:
    from scimcore.storage.migrate import upgrade

    settings = common.settings()
    upgrade(settings.database_url)
    click.echo("database is at the latest revision")


@main.group(help="Organizations (tenants).")
def orgs() -> None:
    pass


def _org_data(settings: Settings, org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "tenant_url": settings.tenant_url(org.slug),
        "created": org.created.isoformat(),
        "profile": org.profile,
        "scim_enabled": org.scim_enabled,
        "scim_disabled_at": org.scim_disabled_at.isoformat() if org.scim_disabled_at else None,
    }


@orgs.command("create", help="Create an organization and print its tenant URL.")
@click.argument("name")
@click.option(
    "--profile",
    default=DEFAULT_PROFILE,
    show_default=True,
    help="IdP profile: auto, okta, entra, entra-aadOptscim062020 or rfc "
    "(append @N to pin a version; see docs/idp-profiles.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def orgs_create(name: str, profile: str, as_json: bool) -> None:
    settings = common.settings()
    store = common.parts().store
    try:
        org = store.create_organization(common.slugify(name), name, profile)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    data = _org_data(settings, org)
    common.emit(
        as_json,
        {**data, "tenant_url_assumed": settings.public_url is None},
        f"Created organization {org.slug}\nTenant URL: {data['tenant_url']}"
        f"{_assumed(settings)}\nIdP profile: {org.profile}",
    )


def _assumed(settings: Settings) -> str:
    """What to say under a tenant URL the command line had to guess."""
    if settings.public_url is not None:
        return ""
    return (
        "\n  (assumed: SCIMSERVER_PUBLIC_URL is not set, so this is the default address; "
        "set it to the address your IdP reaches the service at, or copy the tenant URL "
        "from the console's Settings > SCIM page, which shows the address it is reached at)"
    )


@orgs.command("set-profile", help="Choose the IdP profile of an organization.")
@click.argument("name")
@click.argument("profile")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def orgs_set_profile(name: str, profile: str, as_json: bool) -> None:
    settings = common.settings()
    store = common.parts().store
    org = common.find(store, name)
    try:
        org = store.set_organization_profile(org.id, profile)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    common.emit(
        as_json,
        _org_data(settings, org),
        f"IdP profile of {org.slug}: {org.profile} ({get_profile(org.profile).key})",
    )


@orgs.command("list", help="List organizations.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def orgs_list(as_json: bool) -> None:
    settings = common.settings()
    store = common.parts().store
    rows = []
    for org in store.list_organizations():
        data = _org_data(settings, org)
        info = store.token_info(org.id)
        data["token"] = (
            {
                "prefix": info.prefix,
                "status": info.status,
                "created": info.created.isoformat(),
                "last_used": info.last_used.isoformat() if info.last_used else None,
            }
            if info
            else None
        )
        rows.append(data)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        token = row["token"]
        state = f"token {token['prefix']}… ({token['status']})" if token else "no token"
        access = "" if row["scim_enabled"] else "\tSCIM access off"
        click.echo(f"{row['slug']}\t{row['tenant_url']}\t{state}\tprofile {row['profile']}{access}")


def _set_access(name: str, enabled: bool, as_json: bool) -> None:
    settings = common.settings()
    store = common.parts().store
    org = store.set_scim_access(common.find(store, name).id, enabled)
    if enabled:
        text = f"SCIM access of {org.slug} is on: its active token and valid JWTs work again"
    else:
        text = (
            f"SCIM access of {org.slug} is off: every bearer token (secret or JWT) is "
            f"refused from the next request on, on every worker.\nTurn it on again with "
            f"'scimserver orgs enable {org.slug}' (or by generating a new token)."
        )
    common.emit(as_json, _org_data(settings, org), text)


@orgs.command(
    "disable",
    help="Turn the organization's SCIM access off: no token works (secret or JWT) "
    "until 'orgs enable' or 'token generate'. The token is kept.",
)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def orgs_disable(name: str, as_json: bool) -> None:
    _set_access(name, False, as_json)


@orgs.command(
    "enable",
    help="Turn the organization's SCIM access on again (its active token, if any, and JWTs).",
)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def orgs_enable(name: str, as_json: bool) -> None:
    _set_access(name, True, as_json)


@main.group(help="The organization's secret SCIM token.")
def token() -> None:
    pass


@token.command(
    "generate",
    help="Generate a new token (shown once); the old one stops working. Turns the "
    "organization's SCIM access on if it was off.",
)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def token_generate(name: str, as_json: bool) -> None:
    settings = common.settings()
    store = common.parts().store
    org = common.find(store, name)
    pepper = settings.token_pepper.encode() if settings.token_pepper else None
    issued = issue_token(store, org, pepper)
    data = {
        "token": issued.token,
        "prefix": issued.info.prefix,
        "organization": org.slug,
        "tenant_url": settings.tenant_url(org.slug),
        "scim_access_restored": not org.scim_enabled,
    }
    restored = (
        "\nSCIM access was off (token revoke / orgs disable); it is on again."
        if not org.scim_enabled
        else ""
    )
    common.emit(
        as_json,
        data,
        f"Token for {org.slug} (shown once; any previous token has stopped working):\n"
        f"{issued.token}{restored}",
    )


@token.command(
    "revoke",
    help="Revoke the organization's token and turn its SCIM access off: no token works "
    "afterwards, JWTs included, until 'token generate' or 'orgs enable'.",
)
@click.argument("name")
def token_revoke(name: str) -> None:
    store = common.parts().store
    org = common.find(store, name)
    had = store.revoke_token(org.id)
    first = f"Revoked the token of {org.slug}" if had else f"{org.slug} had no active token"
    click.echo(
        f"{first}; its SCIM access is off (JWTs are refused too) on every worker from the "
        f"next request on.\nGive it a working token again with "
        f"'scimserver token generate {org.slug}'."
    )


@main.command(help="Run the service under gunicorn (see docs/security.md for production).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Threads per worker: requests handled at once by each worker.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a request's line and headers may take to arrive; then 408.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a request's body may take to arrive after its headers; then 408.",
)
@click.option(
    "--send-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds an answer may wait for the client to take more of it; then the "
    "connection is dropped (a client that does not read holds no thread meanwhile).",
)
@click.option(
    "--max-connections",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Open connections per worker (idle and unfinished ones included).",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Comma-separated addresses or networks of the reverse proxies whose "
    "X-Forwarded-For and X-Forwarded-Proto are believed ('*' for any: only when nothing "
    "else can reach the port). Default: SCIMSERVER_FORWARDED_ALLOW_IPS, else 127.0.0.1,::1.",
)
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int,
    header_timeout: float,
    body_timeout: float,
    send_timeout: float,
    max_connections: int,
    forwarded_allow_ips: str | None,
) -> None:
    from ..gunicorn import ServeOptions, run

    if forwarded_allow_ips is not None:
        # The workers' app reads the same list (the client address of the rate limits).
        os.environ["SCIMSERVER_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    settings = common.settings()
    require_driver(settings.database_url)  # here, not once in each worker
    if settings.database_url.startswith("sqlite"):
        from scimcore.storage.migrate import upgrade

        upgrade(settings.database_url)
    run(
        ServeOptions(
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            send_timeout=send_timeout,
            max_connections=max_connections,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            max_request_bytes=settings.max_request_bytes,
        )
    )


main.add_command(csv)
main.add_command(services)
main.add_command(worker)
main.add_command(sync)
main.add_command(jobs)
main.add_command(events)
main.add_command(domains)
main.add_command(connectors)
main.add_command(integrations)
main.add_command(keys)
main.add_command(check)
main.add_command(admins)
main.add_command(accounts)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
