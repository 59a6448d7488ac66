"""``scimserver admins``: console administrators and the organizations they manage.

Passwords are read from a hidden prompt (typed twice) or, when standard input is not a
terminal, from its first line; never from the command line, where they would end up in
shell history and in the process list.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scimcore import ScimError, Store

from ..admin.passwords import hash_password, password_problem
from . import common


def _admins() -> tuple[Store, Any]:
    sql = common.sql("the admin console")
    return sql.store, sql.admins


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    return password


def _org_ids(store: Store, names: tuple[str, ...]) -> list[str]:
    return [common.find(store, name).id for name in names]


@click.group(help="Administrators of the web console (/admin).")
def admins() -> None:
    pass


@admins.command("create", help="Create an administrator; the password is prompted for.")
@click.argument("email")
@click.option("--org", "orgs", multiple=True, help="An organization they manage (repeatable).")
def admins_create(email: str, orgs: tuple[str, ...]) -> None:
    if "@" not in email or len(email) > 320:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    store, admin_store = _admins()
    org_ids = _org_ids(store, orgs)
    password = _read_password()
    try:
        admin = admin_store.create_admin(email, hash_password(password), org_ids)
    except ScimError as exc:
        raise click.ClickException(exc.detail) from None
    scope = ", ".join(orgs) if orgs else "no organization yet (see 'admins add-org')"
    click.echo(f"Created administrator {admin.email} for {scope}")


@admins.command("add-org", help="Let an administrator manage another organization.")
@click.argument("email")
@click.argument("org")
def admins_add_org(email: str, org: str) -> None:
    store, admin_store = _admins()
    admin = admin_store.get_admin_by_email(email)
    if admin is None:
        raise click.ClickException(f"no administrator {email!r}")
    (org_id,) = _org_ids(store, (org,))
    admin_store.add_membership(admin.id, org_id)
    click.echo(f"{admin.email} now manages {org}")


@admins.command("set-password", help="Set a new password; signs the administrator out.")
@click.argument("email")
def admins_set_password(email: str) -> None:
    _, admin_store = _admins()
    admin = admin_store.get_admin_by_email(email)
    if admin is None:
        raise click.ClickException(f"no administrator {email!r}")
    admin_store.set_password(admin.id, hash_password(_read_password()))
    click.echo(f"Password of {admin.email} changed; their sessions have ended")


@admins.command("list", help="List administrators and their organizations.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def admins_list(as_json: bool) -> None:
    _, admin_store = _admins()
    admins = admin_store.list_admins()
    if as_json:
        rows = [
            {
                "email": a.email,
                "organizations": slugs,
                "created": a.created.isoformat(),
                "last_sign_in": a.last_sign_in.isoformat() if a.last_sign_in else None,
            }
            for a, slugs in admins
        ]
        click.echo(json.dumps(rows))
        return
    for a, slugs in admins:
        click.echo(f"{a.email}\t{', '.join(slugs) or '-'}")
