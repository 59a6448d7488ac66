"""``scimserver integrations credential ...``, ``integrations oauth-link`` and ``keys ...``.

Secrets are never taken from the command line (it ends up in shell history and in
``ps``): they are prompted for without echo on a terminal, or read one per line from
standard input otherwise, in the order ``--help`` gives. ``credential show`` prints
hints only ("set", "…abcd", client ids, URLs).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scimcore import Organization, Store
from scimcore.accounts import Integration, KeyRing
from scimcore.adapters.connectors.credentials import (
    CREDENTIAL_KINDS,
    ApiKey,
    Basic,
    BearerToken,
    Credential,
    CredentialError,
    CredentialInfo,
    CredentialVault,
    IdPassword,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
)
from scimcore.adapters.connectors.oauth_flow import TICKET_TTL, OAuthFlow
from scimcore.storage.sql import SqlAccountStore, SqlStore
from scimcore.storage.sql.credentials import SqlCredentialStore, SqlFlowStore, reencrypt_secrets

from .config import Settings


def _open(org: str) -> tuple[Settings, SqlStore, Organization]:
    from . import cli

    settings = cli._settings()
    store: Store = cli._store(settings)
    if not isinstance(store, SqlStore):  # pragma: no cover - the CLI always builds SqlStore
        raise click.ClickException("credentials need the SQL store")
    return settings, store, cli._find(store, org)


def _integration(store: SqlStore, organization: Organization, name: str) -> Integration:
    with SqlAccountStore(store.engine).accounts(organization.id, readonly=True) as session:
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


def _vault(settings: Settings, store: SqlStore) -> CredentialVault:
    keyring = KeyRing(settings.secret_keys) if settings.secret_keys else None
    return CredentialVault(SqlCredentialStore(store.engine), keyring)


def _read_secret(label: str) -> str:
    stdin = sys.stdin
    if stdin.isatty():
        value: str = click.prompt(label, hide_input=True, err=True)
        return value
    line = stdin.readline()
    if not line:
        raise click.ClickException(f"expected the {label} on standard input")
    return line.rstrip("\r\n")


def _info_data(info: CredentialInfo, status: str | None) -> dict[str, Any]:
    return {
        "integration_id": info.integration_id,
        "kind": info.kind,
        "set": info.is_set,
        "hints": dict(info.hints),
        "access_token_expires_at": info.access_token_expires_at.isoformat()
        if info.access_token_expires_at
        else None,
        "key_id": info.key_id,
        "updated": info.updated.isoformat() if info.updated else None,
        "integration_status": status,
    }


def _print_info(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"kind: {data['kind'] or 'not set'}")
    click.echo(f"integration status: {data['integration_status']}")
    for key, value in data["hints"].items():
        click.echo(f"{key}: {value}")


@click.group(help="Integrations: their connector credentials and the OAuth sign-in.")
def integrations() -> None:
    pass


@integrations.group(help="The integration's credential (write-only: secrets are never shown).")
def credential() -> None:
    pass


@credential.command(
    "set",
    help="Store a credential, replacing any. Secrets are prompted for, or read one per line "
    "from standard input: api_key: the key; bearer: the token; basic: the password; "
    "id_password: the password, then the TOTP secret if --totp; oauth_*: the client secret.",
)
@click.argument("org")
@click.argument("integration")
@click.option("--kind", type=click.Choice(CREDENTIAL_KINDS), required=True)
@click.option("--header", default="Authorization", show_default=True, help="api_key: header.")
@click.option("--prefix", default="", help="api_key: scheme before the key (SSWS, Bearer).")
@click.option("--username", help="basic, id_password: the login.")
@click.option("--totp", is_flag=True, help="id_password: also read a TOTP secret.")
@click.option("--authorize-url", help="oauth_authorization_code: the authorize endpoint.")
@click.option("--token-url", help="oauth_*: the token endpoint.")
@click.option("--client-id", help="oauth_*: the client id.")
@click.option("--scope", "scopes", multiple=True, help="oauth_*: a scope (repeatable).")
@click.option(
    "--token-auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post"]),
    default="client_secret_basic",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def credential_set(
    org: str,
    integration: str,
    kind: str,
    header: str,
    prefix: str,
    username: str | None,
    totp: bool,
    authorize_url: str | None,
    token_url: str | None,
    client_id: str | None,
    scopes: tuple[str, ...],
    token_auth_method: Any,
    as_json: bool,
) -> None:
    settings, store, organization = _open(org)
    target = _integration(store, organization, integration)
    vault = _vault(settings, store)
    try:
        vault.require_keyring()
        cred: Credential
        if kind == "api_key":
            cred = ApiKey(header=header, value=_read_secret("API key"), prefix=prefix)
        elif kind == "bearer":
            cred = BearerToken(_read_secret("token"))
        elif kind == "basic":
            cred = Basic(_required(username, "--username"), _read_secret("password"))
        elif kind == "id_password":
            user = _required(username, "--username")
            password = _read_secret("password")
            seed = _read_secret("TOTP secret (base32)") if totp else None
            cred = IdPassword(user, password, seed)
        elif kind == "oauth_client_credentials":
            cred = OAuthClientCredentials(
                token_url=_required(token_url, "--token-url"),
                client_id=_required(client_id, "--client-id"),
                client_secret=_read_secret("client secret"),
                scopes=scopes,
                token_auth_method=token_auth_method,
            )
        else:
            cred = OAuthAuthorizationCode(
                authorize_url=_required(authorize_url, "--authorize-url"),
                token_url=_required(token_url, "--token-url"),
                client_id=_required(client_id, "--client-id"),
                client_secret=_read_secret("client secret"),
                scopes=scopes,
                token_auth_method=token_auth_method,
            )
        info = vault.put(target.id, cred)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    data = _info_data(info, vault.store.status(target.id))
    if as_json:
        _print_info(data, True)
        return
    click.echo(f"Stored a {kind} credential for {target.display_name!r} in {organization.slug}")
    if kind == "oauth_authorization_code":
        click.echo(
            "Next: 'scimserver integrations oauth-link "
            f"{organization.slug} {target.id}' prints the link that connects it."
        )


def _required(value: str | None, option: str) -> str:
    if not value:
        raise click.UsageError(f"{option} is required for this kind")
    return value


@credential.command("show", help="Kind, status and hints (never a secret).")
@click.argument("org")
@click.argument("integration")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def credential_show(org: str, integration: str, as_json: bool) -> None:
    settings, store, organization = _open(org)
    target = _integration(store, organization, integration)
    vault = _vault(settings, store)
    _print_info(_info_data(vault.describe(target.id), vault.store.status(target.id)), as_json)


@credential.command("delete", help="Delete the stored credential (revoke it at the service too).")
@click.argument("org")
@click.argument("integration")
def credential_delete(org: str, integration: str) -> None:
    settings, store, organization = _open(org)
    target = _integration(store, organization, integration)
    if _vault(settings, store).delete(target.id):
        click.echo(
            f"Deleted the credential of {target.display_name!r}. Revoke the grant or key at "
            "the service as well: deleting our copy does not revoke it there."
        )
    else:
        click.echo(f"{target.display_name!r} had no credential")


@integrations.command(
    "oauth-link",
    help="Print a one-time link that starts the OAuth sign-in (valid 15 minutes, single use).",
)
@click.argument("org")
@click.argument("integration")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def oauth_link(org: str, integration: str, as_json: bool) -> None:
    settings, store, organization = _open(org)
    target = _integration(store, organization, integration)
    vault = _vault(settings, store)
    try:
        ticket = OAuthFlow(vault, SqlFlowStore(store.engine)).issue_ticket(
            organization.id, target.id
        )
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    base = settings.public_url or "http://127.0.0.1:8000"
    url = f"{base}/admin/integrations/{target.id}/oauth/start?ticket={ticket}"
    callback = f"{base}/oauth/callback"
    minutes = int(TICKET_TTL.total_seconds() // 60)
    if as_json:
        click.echo(json.dumps({"url": url, "redirect_uri": callback, "expires_in": minutes * 60}))
        return
    click.echo(f"Open this link in a browser within {minutes} minutes (it works once):\n{url}")
    click.echo(f"The provider must allow the redirect URI {callback}")


@click.group(help="The key ring of SCIMSERVER_SECRET_KEYS that encrypts stored secrets.")
def keys() -> None:
    pass


@keys.command("generate", help="Print a new random key (put it first in SCIMSERVER_SECRET_KEYS).")
def keys_generate() -> None:
    click.echo(KeyRing.generate_key())


@keys.command(
    "local",
    help="Quick start only: make (once) or find the key file beside the SQLite database "
    "and print its path; point SCIMSERVER_SECRET_KEYS_FILE at it. Production sets "
    "SCIMSERVER_SECRET_KEYS instead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def keys_local(as_json: bool) -> None:
    from . import cli
    from .config import ConfigError, local_key_file

    settings = cli._settings()
    try:
        path, created = local_key_file(settings.database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"path": str(path), "created": created}))
    else:
        click.echo(f"{'made' if created else 'found'} {path}")


@keys.command(
    "rotate",
    help="Re-encrypt every stored secret (credentials, service passwords, user passwords) "
    "under the first key of SCIMSERVER_SECRET_KEYS; then the other keys can be removed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def keys_rotate(as_json: bool) -> None:
    from . import cli

    settings = cli._settings()
    if not settings.secret_keys:
        raise click.ClickException("SCIMSERVER_SECRET_KEYS is not set")
    store = cli._store(settings)
    if not isinstance(store, SqlStore):  # pragma: no cover
        raise click.ClickException("key rotation needs the SQL store")
    report = reencrypt_secrets(store.engine, KeyRing(settings.secret_keys))
    if as_json:
        click.echo(json.dumps({"rotated": report.rotated, "failed": report.failed}))
    else:
        for label, count in report.rotated.items():
            click.echo(f"{label.replace('_', ' ')}: {count} re-encrypted")
        for row in report.failed:
            click.echo(f"cannot decrypt {row} with any configured key; left as is", err=True)
    if report.failed:
        sys.exit(1)
