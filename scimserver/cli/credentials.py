"""``scimserver integrations credential ...``, ``integrations oauth-link`` and ``keys ...``.

Secrets are never taken from the command line (it ends up in shell history and in
``ps``): they are prompted for without echo on a terminal, or read one per line from
standard input otherwise, in the order ``--help`` gives. ``credential show`` prints
hints only ("set", "…abcd", client ids, URLs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from scimcore import Organization
from scimcore.accounts import KeyRing
from scimcore.adapters.connectors import load
from scimcore.adapters.connectors.credentials import (
    CREDENTIAL_KINDS,
    ApiKey,
    Basic,
    BearerToken,
    Credential,
    CredentialError,
    CredentialInfo,
    GoogleServiceAccount,
    IdPassword,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
)
from scimcore.adapters.connectors.oauth_flow import TICKET_TTL, OAuthFlow

from ..integration_setup import oauth_preset
from ..wiring import Parts
from . import common


def _open(org: str) -> tuple[Parts, Organization]:
    current, organization = common.open_org(org)
    common.sql("credentials")
    return current, organization


def _certificate(path: Path) -> tuple[str, str]:
    """The private key PEM and the certificate's x5t (base64url SHA-1 thumbprint, the
    name Microsoft's token endpoint knows it by) from one PEM file holding both."""
    import base64
    import re

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    text = path.read_text(encoding="utf-8")
    key = re.search(
        r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+?-----END (?:RSA )?PRIVATE KEY-----", text, re.S
    )
    if key is None or "-----BEGIN CERTIFICATE-----" not in text:
        raise CredentialError(
            "--certificate-file must hold the certificate and its private key (PEM)"
        )
    try:
        cert = x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise CredentialError("--certificate-file: the certificate cannot be read") from None
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    return key.group(0) + "\n", x5t


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
@click.option(
    "--authorize-url",
    help="oauth_authorization_code: the authorize endpoint "
    "[default: the connector's, if it knows it].",
)
@click.option(
    "--token-url", help="oauth_*: the token endpoint [default: the connector's, if it knows it]."
)
@click.option("--client-id", help="oauth_*: the client id.")
@click.option("--scope", "scopes", multiple=True, help="oauth_*: a scope (repeatable).")
@click.option(
    "--token-auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post"]),
    default="client_secret_basic",
    show_default=True,
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="google_service_account: the service account's JSON key file.",
)
@click.option("--subject", help="google_service_account: the administrator it acts as (an e-mail).")
@click.option(
    "--certificate-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="oauth_client_credentials: a PEM file with the app's certificate and its private "
    "key, used instead of a client secret (private_key_jwt).",
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
    key_file: Path | None,
    subject: str | None,
    certificate_file: Path | None,
    as_json: bool,
) -> None:
    current, organization = _open(org)
    target = common.integration(current, organization, integration)
    vault = current.vault
    binding = current.provisioning.binding(organization.id, target.id)
    preset = oauth_preset(binding.connector, binding.settings) if binding is not None else None
    if preset is not None and kind.startswith("oauth_"):  # it knows its endpoints, scopes
        authorize_url = authorize_url or preset.authorize_url
        token_url = token_url or preset.token_url
        scopes = scopes or preset.scopes
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
        elif kind == "oauth_client_credentials" and certificate_file is not None:
            private_key, thumbprint = _certificate(certificate_file)
            cred = OAuthClientCredentials(
                token_url=_required(token_url, "--token-url"),
                client_id=_required(client_id, "--client-id"),
                client_secret=private_key,
                scopes=scopes,
                token_auth_method="private_key_jwt",
                certificate_thumbprint=thumbprint,
            )
        elif kind == "oauth_client_credentials":
            cred = OAuthClientCredentials(
                token_url=_required(token_url, "--token-url"),
                client_id=_required(client_id, "--client-id"),
                client_secret=_read_secret("client secret"),
                scopes=scopes,
                token_auth_method=token_auth_method,
            )
        elif kind == "google_service_account":
            connector = load(binding.connector) if binding is not None else None
            delegated = tuple(getattr(connector, "delegated_scopes", ()))
            path = key_file if key_file is not None else Path(_required(None, "--key-file"))
            cred = GoogleServiceAccount.from_key_file(
                path.read_text(encoding="utf-8"),
                subject=_required(subject, "--subject"),
                scopes=scopes or delegated,
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
    current, organization = _open(org)
    target = common.integration(current, organization, integration)
    vault = current.vault
    _print_info(_info_data(vault.describe(target.id), vault.store.status(target.id)), as_json)


@credential.command("delete", help="Delete the stored credential (revoke it at the service too).")
@click.argument("org")
@click.argument("integration")
def credential_delete(org: str, integration: str) -> None:
    current, organization = _open(org)
    target = common.integration(current, organization, integration)
    if current.vault.delete(target.id):
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
    current, organization = _open(org)
    target = common.integration(current, organization, integration)
    vault = current.vault
    try:
        ticket = OAuthFlow(vault, current.need_sql("OAuth").flows).issue_ticket(
            organization.id, target.id
        )
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    base = current.settings.public_url or "http://127.0.0.1:8000"
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
    from ..config import ConfigError, local_key_file

    settings = common.settings()
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
    keyring = common.parts().keyring
    if keyring is None:
        raise click.ClickException("SCIMSERVER_SECRET_KEYS is not set")
    report = common.sql("key rotation").reencrypt_secrets(keyring)
    if as_json:
        click.echo(json.dumps({"rotated": report.rotated, "failed": report.failed}))
    else:
        for label, count in report.rotated.items():
            click.echo(f"{label.replace('_', ' ')}: {count} re-encrypted")
        for row in report.failed:
            click.echo(f"cannot decrypt {row} with any configured key; left as is", err=True)
    if report.failed:
        sys.exit(1)
