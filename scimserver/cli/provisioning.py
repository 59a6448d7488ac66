"""``scimserver worker``, ``sync``, ``jobs``, ``events prune``, ``domains``,
``connectors``, ``services connect`` and ``integrations list``/``lift-quarantine``:
thin glue over :mod:`scimcore.adapters.connectors`.

Exit codes: ``sync`` exits 1 when the run failed (nothing was changed); ``jobs retry``
exits 1 when the job is not dead.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from scimcore import Organization, ScimError
from scimcore.adapters.connectors import (
    Capability,
    ConnectorError,
    available,
    load,
)
from scimcore.provisioning.discovery import (
    SYNC_INTERVAL_SETTING,
    DiscoveryScheduler,
    parse_interval,
)
from scimcore.provisioning.discovery import sync as run_sync
from scimcore.provisioning.jobs import JOB_STATUSES
from scimcore.provisioning.quarantine import QUARANTINED
from scimcore.provisioning.worker import Worker

from ..integration_setup import (
    SetupError,
    address_template,
    check_connection,
    connect,
    switch_provisioning,
)
from ..wiring import Parts
from . import common
from .credentials import integrations
from .csv_files import services

#: Events ``events prune`` deletes per statement.
_PRUNE_BATCH = 1000


def _open(name: str | None = None) -> tuple[Parts, Organization | None]:
    """The parts (the SQL ones required) and, given a name, the organization."""
    common.sql("provisioning")
    if name is None:
        return common.parts(), None
    return common.open_org(name)


def _setting(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--setting")
        out[key.strip()] = value
    return out


@services.command("connect", help="Choose the connector of a service and its settings.")
@click.argument("org")
@click.argument("name")
@click.option("--connector", "connector_name", required=True, help="manual, webhook, scim2 ...")
@click.option(
    "--setting", "settings_", multiple=True, help="KEY=VALUE, e.g. base_url=https://... (repeat)."
)
@click.option("--provisioning/--no-provisioning", default=False, show_default=True)
@click.option(
    "--max-concurrency",
    type=click.IntRange(1, 64),
    help="[default: the service's documented pace (SCIM catalog), else 4]",
)
@click.option(
    "--min-interval-ms",
    type=click.IntRange(0),
    help="Minimum gap between two requests to the service, over all workers "
    "[default: the service's documented pace (SCIM catalog), else 0].",
)
@click.option(
    "--sync-interval",
    help="Scheduled discovery by the worker: 30m, 6h, 1d, seconds, or off "
    "[default: 6h, or the value set before].",
)
@click.option("--test", "test_it", is_flag=True, help="Run the connector's connection test.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def services_connect(
    org: str,
    name: str,
    connector_name: str,
    settings_: tuple[str, ...],
    provisioning: bool,
    max_concurrency: int | None,
    min_interval_ms: int | None,
    sync_interval: str | None,
    test_it: bool,
    as_json: bool,
) -> None:
    values = _setting(settings_)
    if sync_interval is not None:
        try:
            values[SYNC_INTERVAL_SETTING] = parse_interval(sync_interval)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--sync-interval") from None
    current, organization = _open(org)
    assert organization is not None
    integration = common.integration(current, organization, name)
    try:
        binding, connector = connect(
            current.provisioning,
            organization.id,
            integration.id,
            connector_name,
            values,
            provisioning=provisioning,
            max_concurrency=max_concurrency,
            min_interval_ms=min_interval_ms,
        )
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    data: dict[str, Any] = {
        "integration_id": integration.id,
        "service": integration.display_name,
        "connector": connector_name,
        "settings": dict(binding.settings),
        "provisioning_enabled": provisioning,
    }
    if test_it:
        check = check_connection(current.credential_source, binding, connector)
        data["connection"] = {"ok": check.ok, "message": check.message}
    # The connection is saved either way (the settings may be right and the service
    # down); a failed test exits 1 so that a script can tell.
    data["saved"] = True
    failed = "connection" in data and not data["connection"]["ok"]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(
            f"{integration.display_name}: connector {connector_name}, provisioning "
            f"{'on' if provisioning else 'off'} (saved)"
        )
        if "connection" in data:
            click.echo(
                f"connection test: {'ok' if data['connection']['ok'] else 'FAILED'} - "
                f"{data['connection']['message']}"
            )
        if failed:
            click.echo(
                "The connection is saved but does not work yet: fix the settings or "
                f"credentials and run 'scimserver services connect {org} {name} ... --test' "
                "again.",
                err=True,
            )
    if failed:
        raise SystemExit(1)


@click.command(help="Run provisioning jobs (several workers may run at once on PostgreSQL).")
@click.option("--once", is_flag=True, help="Work until nothing is left to do, then exit.")
@click.option("--max-seconds", type=click.FloatRange(0), help="Exit after this many seconds.")
@click.option("--batch", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--lease-seconds",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="A claimed job returns to the queue if its worker has not finished it by then.",
)
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 300))
@click.option("--idle-sleep", default=1.0, show_default=True, type=click.FloatRange(0.01, 60))
@click.option(
    "--discovery/--no-discovery",
    default=True,
    show_default=True,
    help="Also run discovery of each integration whose sync interval has passed.",
)
@click.option(
    "--sync-poll-seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="How often to look for integrations due for discovery.",
)
def worker(
    once: bool,
    max_seconds: float | None,
    batch: int,
    lease_seconds: int,
    timeout: float,
    idle_sleep: float,
    discovery: bool,
    sync_poll_seconds: float,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    current, _ = _open()
    prov = current.provisioning
    credentials = current.credential_source
    scheduler = (
        DiscoveryScheduler(
            prov,
            credentials,
            current.need_sql("scheduled discovery").schedule,
            timeout=timeout,
            poll=timedelta(seconds=sync_poll_seconds),
        )
        if discovery
        else None
    )
    w = Worker(
        prov,
        credentials,
        batch_size=batch,
        lease=timedelta(seconds=lease_seconds),
        timeout=timeout,
        discovery=scheduler,
        retention=_retention(current.settings.event_retention_days),
    )
    try:
        stats = w.run(max_seconds=max_seconds, idle_sleep=idle_sleep, until_idle=once)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(json.dumps(stats.__dict__))


@click.command(help="Discover a service's accounts and classify them (managed/retired/...).")
@click.argument("org")
@click.argument("integration")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def sync(org: str, integration: str, as_json: bool) -> None:
    current, organization = _open(org)
    assert organization is not None
    found = common.integration(current, organization, integration)
    try:
        result = run_sync(
            current.provisioning,
            current.credential_source,
            organization.id,
            found.id,
        )
    except ConnectorError as exc:
        raise click.ClickException(exc.message) from None
    run = result.run
    data = {
        "run_id": run.id,
        "status": run.status,
        "counts": dict(run.counts),
        "error": run.error,
        "notes": list(result.notes),
        "accounts": [
            {
                "account_id": ob.account_id,
                "user_id": ob.user_id,
                "remote_status": ob.remote_status,
                "classification": ob.classification,
            }
            for ob in result.observations
        ],
    }
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(f"sync {run.status}: {json.dumps(dict(run.counts))}")
        for note in result.notes:
            click.echo(f"note: {note}")
        if run.error:
            click.echo(f"error: {run.error} (no account was changed)")
    if not result.ok:
        raise SystemExit(1)


@click.group(help="Provisioning jobs: list them, retry dead ones.")
def jobs() -> None:
    pass


@jobs.command("list", help="Newest jobs first.")
@click.option("--status", type=click.Choice(JOB_STATUSES))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def jobs_list(status: Any, limit: int, as_json: bool) -> None:
    current, _ = _open()
    rows = [
        {
            "id": j.id,
            "integration_id": j.integration_id,
            "user_id": j.user_id,
            "operation": j.operation,
            "status": j.status,
            "attempts": j.attempts,
            "run_after": j.run_after.isoformat(),
            "last_error": j.last_error,
        }
        for j in current.provisioning.jobs(status, limit)
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(
            f"{r['id']}\t{r['operation']}\t{r['status']}\tattempts {r['attempts']}\t"
            f"{r['last_error'] or ''}"
        )


@jobs.command("retry", help="Put a dead job back in the queue with fresh attempts.")
@click.argument("job_id", type=int)
def jobs_retry(job_id: int) -> None:
    current, _ = _open()
    if not current.provisioning.retry(job_id):
        raise click.ClickException(f"job {job_id} is not dead (see 'scimserver jobs list')")
    click.echo(f"job {job_id} is queued again")


@click.group(help="The organization's e-mail domains (accounts elsewhere are 'external').")
def domains() -> None:
    pass


@domains.command("add")
@click.argument("org")
@click.argument("domain")
def domains_add(org: str, domain: str) -> None:
    current, organization = _open(org)
    assert organization is not None
    current.provisioning.add_domain(organization.id, domain)
    click.echo(f"{domain.lower()} is a domain of {organization.slug}")


@domains.command("list")
@click.argument("org")
def domains_list(org: str) -> None:
    current, organization = _open(org)
    assert organization is not None
    for domain in current.provisioning.domains(organization.id):
        click.echo(domain)


@click.command("connectors", help="List the installed connectors and what each can do.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def connectors(as_json: bool) -> None:
    rows: list[dict[str, Any]] = []
    for name, where in sorted(available().items()):
        try:
            connector = load(name)
        except ConnectorError as exc:
            rows.append({"name": name, "module": where, "error": exc.message})
            continue
        preset = getattr(connector, "oauth_preset", None)
        rows.append(
            {
                "name": name,
                "display_name": connector.display_name,
                "module": where,
                "capabilities": sorted(
                    c.name.lower() for c in Capability if c in connector.capabilities and c.name
                ),
                "auth_methods": sorted(connector.auth_methods),
                "address_setting": getattr(connector, "address_setting", None),
                "address_template": address_template(connector),
                "oauth_preset": preset is not None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']}\t(cannot be loaded: {row['error']})")
            continue
        oauth = "; OAuth preset" if row["oauth_preset"] else ""
        address = f"; address {row['address_template']}" if row["address_template"] else ""
        click.echo(
            f"{row['name']}\t{row['display_name']}\t{', '.join(row['capabilities'])}"
            f"{oauth}{address}"
        )


@services.command(
    "provisioning", help="Switch provisioning of a service on or off (its connector stays)."
)
@click.argument("org")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
def services_provisioning(org: str, name: str, state: str) -> None:
    current, organization = _open(org)
    assert organization is not None
    integration = common.integration(current, organization, name)
    try:
        binding = switch_provisioning(
            current.provisioning, organization.id, integration.id, state == "on"
        )
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{integration.display_name}: provisioning {state} (connector {binding.connector})")


@integrations.command("list", help="The organization's integrations and their status.")
@click.argument("org")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def integrations_list(org: str, as_json: bool) -> None:
    current, organization = _open(org)
    assert organization is not None
    prov = current.provisioning
    with current.accounts.accounts(organization.id, readonly=True) as session:
        found = session.integrations()
    rows = []
    for integration in found:
        binding = prov.binding(organization.id, integration.id)
        rows.append(
            {
                "id": integration.id,
                "display_name": integration.display_name,
                "status": binding.integration.status if binding else integration.status,
                "connector": binding.connector if binding else None,
                "provisioning_enabled": integration.settings.provisioning_enabled,
                "quarantined_since": _stamp(binding.quarantined_since if binding else None),
                "next_trial": _stamp(binding.quarantine_next_trial if binding else None),
                "last_error": binding.last_error if binding else None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        line = f"{r['id']}\t{r['display_name']}\t{r['status']}"
        if r["status"] == QUARANTINED:
            line += f"\tsince {r['quarantined_since']}, next try {r['next_trial']}"
        click.echo(line)


@integrations.command(
    "lift-quarantine", help="End a quarantine: the integration's jobs run again at once."
)
@click.argument("org")
@click.argument("integration")
def integrations_lift_quarantine(org: str, integration: str) -> None:
    current, organization = _open(org)
    assert organization is not None
    target = common.integration(current, organization, integration)
    if not current.provisioning.lift_quarantine(organization.id, target.id):
        raise click.ClickException(f"{target.display_name!r} is not quarantined")
    click.echo(f"{target.display_name!r} is out of quarantine; its jobs run again")


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _retention(days: int) -> timedelta | None:
    return timedelta(days=days) if days > 0 else None


@click.group(help="The event log (the provisioning outbox).")
def events() -> None:
    pass


@events.command(
    "prune",
    help="Delete events older than the retention (never one a pending or running job needs).",
)
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(0),
    help="Age in days [default: SCIMSERVER_EVENT_RETENTION_DAYS, 90].",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def events_prune(days: int | None, as_json: bool) -> None:
    current, _ = _open()
    if days is None:
        days = current.settings.event_retention_days
        if days == 0:
            raise click.ClickException(
                "SCIMSERVER_EVENT_RETENTION_DAYS is 0 (keep events forever): "
                "pass --older-than DAYS to prune anyway"
            )
    before = datetime.now(UTC) - timedelta(days=days)
    prov = current.provisioning
    pruned = 0
    while True:  # each batch deletes rows, so this ends
        deleted = prov.prune_events(before, limit=_PRUNE_BATCH)
        pruned += deleted
        if deleted < _PRUNE_BATCH:
            break
    if as_json:
        click.echo(json.dumps({"pruned": pruned, "before": before.isoformat()}))
        return
    click.echo(f"pruned {pruned} events created before {before.isoformat()}")
