"""What every command shares: the settings, the parts built from them
(:mod:`scimserver.wiring`), finding an organization, and printing.

Each command module imports this one, never the command group (:mod:`.main`), which
imports them: no cycle.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from scimcore import Organization, ScimError, Store
from scimcore.accounts import Integration

from ..config import ConfigError, Settings
from ..wiring import NeedsSql, Parts, SqlParts, build

_SLUG = re.compile(r"[^a-z0-9_-]+")
_PARTS = "scimserver.parts"


def settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def parts() -> Parts:
    """The parts for the environment's settings, built once per command invocation and
    closed (the database pool released) when it ends."""
    ctx = click.get_current_context(silent=True)
    found: Parts | None = ctx.meta.get(_PARTS) if ctx is not None else None
    if found is None:
        try:
            found = build(settings())
        except ScimError as exc:
            raise click.ClickException(exc.detail) from None
        if ctx is not None:
            ctx.meta[_PARTS] = found
            ctx.call_on_close(found.close)
    return found


def sql(what: str) -> SqlParts:
    """The SQL parts, or a one-line error naming what needed them."""
    try:
        return parts().need_sql(what)
    except NeedsSql as exc:
        raise click.ClickException(str(exc)) from None


def slugify(name: str) -> str:
    """The URL-safe organization id derived from a name: ``Acme Corp`` -> ``acme-corp``."""
    slug = _SLUG.sub("-", name.strip().lower()).strip("-")
    if not slug:
        raise click.BadParameter(f"{name!r} has no letters or digits to form a URL slug")
    return slug[:63]


def find(store: Store, name: str) -> Organization:
    """The organization named ``name`` (its slug, or a name that slugifies to it)."""
    org = store.get_organization(name) or store.get_organization(slugify(name))
    if org is None:
        raise click.ClickException(f"no organization named {name!r} (see 'scimserver orgs list')")
    return org


def open_org(name: str) -> tuple[Parts, Organization]:
    """The parts and the organization ``name``: what most commands start with."""
    current = parts()
    return current, find(current.store, name)


def integration(current: Parts, organization: Organization, name: str) -> Integration:
    """The organization's service named ``name`` (its display name, or its id)."""
    with current.accounts.accounts(organization.id, readonly=True) as session:
        found = [
            i
            for i in session.integrations()
            if i.display_name == name or (name.isdigit() and i.id == int(name))
        ]
    if not found:
        raise click.ClickException(
            f"no service named {name!r} in {organization.slug} (see 'scimserver services list')"
        )
    return found[0]


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data) if as_json else text)
