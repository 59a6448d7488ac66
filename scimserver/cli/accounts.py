"""``scimserver accounts``: leavers' and orphans' accounts still active at their services,
and what the console's dashboard does to them, by the same scimcore functions
(:mod:`scimcore.provisioning.leavers`): ``deprovision`` queues one job for the worker,
``except`` keeps an account on purpose (``--undo`` puts it back on the list).

Each action is recorded in the console's audit trail with the actor ``cli``.
Exit codes: 1 when the action is refused (not a leaver's account, an exception, the
service's policy or connector cannot do it).
"""

from __future__ import annotations

import json
from typing import Any

import click

from scimcore.provisioning.leavers import (
    LeaverError,
    clear_exception,
    deprovision,
    mark_exception,
)

from . import common

#: Who the audit trail and the events name for an action from the CLI.
ACTOR = "cli"
SHOWN = ("all", "retired", "unknown", "exceptions")


@click.group(help="Leavers' and orphans' accounts still active at their services.")
def accounts() -> None:
    pass


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@accounts.command("leavers", help="List leavers' (retired) and orphans' (unknown) accounts.")
@click.argument("org")
@click.option("--service", help="Only this service (its name or id).")
@click.option("--show", type=click.Choice(SHOWN), default="all", show_default=True)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def leavers(org: str, service: str | None, show: Any, limit: int, as_json: bool) -> None:
    sql = common.sql("leavers' accounts")
    current, organization = common.open_org(org)
    only = common.integration(current, organization, service).id if service else None
    rows = sql.dashboard.leavers(organization.id, shown=show, integration_id=only, limit=limit)
    data: list[dict[str, Any]] = [
        {
            "service": r.integration_name,
            "integration_id": r.integration_id,
            "account_id": r.account_id,
            "classification": r.classification,
            "user_id": r.user_id,
            "user_name": r.user_name,
            "last_access_time": _stamp(r.last_access_time),
            "job_status": r.job_status,
            "exception": (
                {"reason": r.exception_reason, "by": r.exception_by, "at": _stamp(r.exception_at)}
                if r.exception_reason is not None
                else None
            ),
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    for d in data:
        note = f"\texception: {d['exception']['reason']}" if d["exception"] else ""
        job = f"\tjob {d['job_status']}" if d["job_status"] else ""
        click.echo(
            f"{d['service']}\t{d['account_id']}\t{d['classification']}\t"
            f"{d['user_name'] or '-'}{job}{note}"
        )


@accounts.command(
    "deprovision",
    help="Queue the deactivation or deletion (as the service's policy says) of a leaver's "
    "or orphan's account; 'scimserver worker' carries it out.",
)
@click.argument("org")
@click.argument("integration")
@click.argument("account_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def accounts_deprovision(org: str, integration: str, account_id: str, as_json: bool) -> None:
    sql = common.sql("leavers' accounts")
    current, organization = common.open_org(org)
    target = common.integration(current, organization, integration)
    try:
        done = deprovision(
            sql.leavers, current.provisioning, organization.id, target.id, account_id, actor=ACTOR
        )
    except LeaverError as exc:
        raise click.ClickException(exc.message) from None
    if done.queued:
        sql.admins.record(
            organization.id,
            ACTOR,
            "account.deprovision_requested",
            f"{target.display_name}: {account_id}",
            {"job": done.job_id, "policy": done.policy},
        )
    data = {"job_id": done.job_id, "queued": done.queued, "policy": done.policy}
    common.emit(
        as_json,
        data,
        f"job {done.job_id} {'queued' if done.queued else 'was already queued'}: "
        f"{account_id} in {target.display_name} ({done.policy})",
    )


@accounts.command(
    "except", help="Keep a leaver's or orphan's account on purpose (it leaves the list)."
)
@click.argument("org")
@click.argument("integration")
@click.argument("account_id")
@click.option("--reason", help="Why the account is kept (required unless --undo).")
@click.option("--undo", is_flag=True, help="Put the account back on the list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def accounts_except(
    org: str,
    integration: str,
    account_id: str,
    reason: str | None,
    undo: bool,
    as_json: bool,
) -> None:
    sql = common.sql("leavers' accounts")
    current, organization = common.open_org(org)
    target = common.integration(current, organization, integration)
    name = f"{target.display_name}: {account_id}"
    try:
        if undo:
            _, changed = clear_exception(
                sql.leavers, organization.id, target.id, account_id, actor=ACTOR
            )
            action, text = "account.exception_cleared", "is back on the list"
        else:
            _, changed = mark_exception(
                sql.leavers, organization.id, target.id, account_id, reason or "", actor=ACTOR
            )
            action, text = "account.exception_marked", "is kept as an exception"
    except LeaverError as exc:
        raise click.ClickException(exc.message) from None
    if changed:
        detail = {} if undo else {"reason": reason}
        sql.admins.record(organization.id, ACTOR, action, name, detail)
    common.emit(
        as_json,
        {"changed": changed, "exception": not undo},
        f"{name} {text}" + ("" if changed else " (nothing changed)"),
    )
