"""Integrations: the organization's services with their status and last sync, and per
service its credential (write-only forms), "Integrate" (OAuth), "Sync now" and the
accounts it holds, filtered by classification to find leavers' accounts.

Secrets typed into a form go straight into the credential vault (encrypted under
``SCIMSERVER_SECRET_KEYS``); no page ever renders one, not even after a failed
submission: only :meth:`CredentialVault.describe` hints ("set", "…abcd") are shown.
An OAuth client's form is prefilled with its public settings (URLs, client id,
scopes); its secret field stays empty, and submitting it empty keeps the stored secret.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization
from scimcore.accounts import Integration
from scimcore.adapters.connectors import Capability, ConnectorError, OAuthPreset, load
from scimcore.adapters.connectors.credentials import (
    ApiKey,
    BearerToken,
    Credential,
    CredentialError,
    CredentialVault,
    GoogleServiceAccount,
    IdPassword,
    OAuthAuthorizationCode,
    OAuthClientCredentials,
    TokenAuthMethod,
)
from scimcore.adapters.connectors.oauth_flow import OAuthFlow
from scimcore.provisioning.discovery import SyncResult
from scimcore.provisioning.discovery import sync as run_sync

from ..base_url import base_url
from ..integration_setup import connection_blocker, declared_preset, oauth_preset
from ..log_redaction import masked_logger
from ..oauth_views import CALLBACK_PATH
from .blueprint import (
    audit,
    bp,
    console,
    login_required,
    my_organizations,
    organization,
    page,
)

log = masked_logger("scimserver.admin")

SHOWN_ACCOUNTS = 200
LINK_FILTERS = {"all": "All", "linked": "Linked to a user", "unlinked": "Linked to nobody"}
CLASSIFICATIONS = {
    "managed": "Managed",
    "retired": "Retired (leaver, still active)",
    "external": "External",
    "unknown": "Unknown (orphan)",
}
STATUS_LABELS = {
    "active": "active",
    "pending_auth": "waiting for sign-in",
    "syncing": "syncing",
    "synced": "synced",
    "sync_failed": "failed",
    "needs_reauth": "needs re-auth",
    "disabled": "disabled",
    "quarantined": "quarantined",
}
OAUTH_KINDS = ("oauth_authorization_code", "oauth_client_credentials")
#: Credential kinds the console's forms set (``basic`` only with the CLI: legacy).
FORM_KINDS = ("api_key", "bearer", "id_password", *OAUTH_KINDS, "google_service_account")
#: Largest service account key file the form takes (Google's are about 2.4 KiB).
KEY_FILE_MAX = 64 * 1024
TOKEN_AUTH_METHODS = {
    "client_secret_basic": "HTTP Basic authentication (client_secret_basic)",
    "client_secret_post": "In the request body (client_secret_post)",
}
#: What the vault's messages call a form field, and the label the form shows.
FIELD_LABELS = {
    "authorize_url": "Authorization URL",
    "token_url": "Token URL",
    "client_id": "Client ID",
    "client_secret": "Client secret",
    "each scope": "Each scope",
    "token_auth_method": "Client authentication",
    "key_file": "The JSON key file",
    "subject": "The administrator it acts as",
    "username": "The ID",
    "password": "The password",
    "the TOTP secret": "The TOTP secret",
}
#: Where a field named in a vault message is on the forms, when not under its own name.
FORM_FIELDS = {"password": "secret", "the TOTP secret": "totp_secret"}
#: What removing a user does to the remote account, as the forms offer it.
DELETE_POLICIES = {
    "deactivate_remote": "Deactivate the remote account",
    "delete_remote": "Delete the remote account",
    "nothing": "Leave the remote account as it is",
}
#: "Sync now" waits this long for the run; a longer one goes on in the background.
SYNC_WAIT_SECONDS = 15.0
#: Per-request deadline of a console-started run.
SYNC_REQUEST_TIMEOUT = 10.0
#: A run still "syncing" after this long is considered dead and may be started again.
STALE_SYNC = timedelta(minutes=10)
NOTICES = {
    "integration_created": "The integration was added. Store or change its credential below, "
    "then press Sync now to see the accounts it holds.",
    "credential_saved": "The credential was stored. It is encrypted and will not be shown again.",
    "oauth_saved": "The OAuth client was stored; its secret is encrypted and will not be shown "
    "again. Press Integrate to sign in at the service and connect it.",
    "credential_deleted": "The credential was deleted. Revoke it at the service as well.",
    "settings_saved": "The settings were saved.",
    "provisioning_on": "Provisioning is on: changes to users are now made at the service.",
    "provisioning_off": "Provisioning is off: nothing is changed at the service until it is "
    "switched on again.",
    "oauth_connected": "The service is connected: its tokens are stored, encrypted. Press "
    "Sync now to see the accounts it holds.",
    "sync_done": "The sync finished; its result is below.",
    "sync_running": "The sync is still running. Reload this page in a moment to see its result.",
    "sync_busy": "A sync of this service is already running.",
    "sync_unsupported": "This service's connector cannot list accounts, so it cannot be synced.",
}


@dataclass(frozen=True)
class Overview:
    """An integration with what the list and detail pages show about its connector."""

    integration: Integration
    connector: str
    last_sync_started: datetime | None
    last_sync_finished: datetime | None
    last_successful_sync: datetime | None
    last_error: str | None
    #: Accounts of the integration, however linked (discovery, CSV, the console).
    account_count: int

    @property
    def status_label(self) -> str:
        status = self.integration.status
        return STATUS_LABELS.get(status, status.replace("_", " "))


def _binding_settings(org: Organization, overview: Overview) -> dict[str, Any]:
    binding = console().parts.provisioning.binding(org.id, overview.integration.id)
    return dict(binding.settings) if binding is not None else {}


def _preset(org: Organization, overview: Overview) -> OAuthPreset | None:
    """The connector's OAuth endpoints and scopes, with the integration's settings."""
    return oauth_preset(overview.connector, _binding_settings(org, overview))


def _consent_link(org: Organization, overview: Overview) -> str | None:
    """Where an administrator grants the stored OAuth client its permissions for the
    tenant (Microsoft's admin consent), once the client ID is known."""
    preset = _preset(org, overview)
    if preset is None or not preset.consent_url:
        return None
    client_id = _vault().describe(overview.integration.id).hints.get("client_id")
    if not client_id:
        return None
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": base_url(console().settings.public_url) + CALLBACK_PATH,
            "state": f"consent-{overview.integration.id}",
        }
    )
    return f"{preset.consent_url}?{query}"


def _delegated_scopes(connector: str) -> tuple[str, ...]:
    """What the connector needs a service account's delegation to grant (none: it
    takes no service account)."""
    try:
        return tuple(getattr(load(connector), "delegated_scopes", ()))
    except ConnectorError:
        return ()


def _preset_needs(org: Organization, overview: Overview) -> tuple[str, ...]:
    """Settings the connector's preset names that the integration has not set yet."""
    declared = declared_preset(overview.connector)
    if declared is None or _preset(org, overview) is not None:
        return ()
    return declared.settings


def _vault() -> CredentialVault:
    return console().parts.vault


def _views() -> Any:
    return console().parts.need_sql("integrations").integration_views


def _overviews(org: Organization) -> list[Overview]:
    with console().accounts.accounts(org.id, readonly=True) as session:
        found = session.integrations()
    rows = _views().connector_states(org.id)
    totals = _views().account_totals(org.id)
    out = []
    for i in found:
        r = rows.get(i.id)
        out.append(
            Overview(
                integration=i,
                connector=r.connector if r else ("manual" if i.is_manual else i.kind),
                last_sync_started=r.last_sync_started if r else None,
                last_sync_finished=r.last_sync_finished if r else None,
                last_successful_sync=r.last_successful_sync if r else None,
                last_error=r.last_error if r else None,
                account_count=totals.get(i.id, 0),
            )
        )
    return out


def _overview(org: Organization, integration_id: int) -> Overview:
    """The organization's integration, or 404 (also for another organization's)."""
    found = next((o for o in _overviews(org) if o.integration.id == integration_id), None)
    if found is None:
        abort(404)
    return found


def confirmed() -> bool:
    """Whether this is the POST of a confirmation page's button (the page itself, asked
    for by GET or by a POST without it, changes nothing)."""
    return request.method == "POST" and request.form.get("confirm") == "yes"


def confirm_page(
    org: Organization,
    integration_id: int,
    *,
    question: str,
    warning: str,
    action: str,
    button: str,
) -> ResponseReturnValue:
    """The page that asks before something about an integration is deleted."""
    return page(
        "confirm.html",
        org=org,
        section="integrations",
        question=question,
        warning=warning,
        action=url_for(action, slug=org.slug, integration_id=integration_id),
        button=button,
        cancel=url_for("admin.integration_detail", slug=org.slug, integration_id=integration_id),
    )


def _blocker(org: Organization, overview: Overview) -> str | None:
    """Why this integration cannot work whatever its credential (an SSO-only sign-in)."""
    binding = console().parts.provisioning.binding(org.id, overview.integration.id)
    try:
        connector = load(overview.connector)
    except ConnectorError:
        return None
    return connection_blocker(connector, binding.settings if binding else {})


def _can_discover(connector: str) -> bool:
    try:
        return Capability.DISCOVER in load(connector).capabilities
    except ConnectorError:
        return False


def _last_run(org: Organization, integration_id: int) -> Any:
    return _views().last_run(org.id, integration_id)


def _accounts(
    org: Organization, integration_id: int, classification: str, link: str, after: int
) -> tuple[list[Any], dict[str, int], int | None]:
    """One page of the integration's accounts, the counts per classification, and the
    ``after`` value of the next page (keyset on the account row id)."""
    rows, counts = _views().accounts(
        org.id,
        integration_id,
        classification=classification,
        link=link,
        after=after,
        limit=SHOWN_ACCOUNTS + 1,
    )
    next_after = None
    if len(rows) > SHOWN_ACCOUNTS:
        rows = rows[:SHOWN_ACCOUNTS]
        next_after = rows[-1].id
    return list(rows), counts, next_after


def _detail(
    org: Organization, integration_id: int, status: int = 200, **extra: Any
) -> ResponseReturnValue:
    overview = _overview(org, integration_id)
    link = request.args.get("link", "all")
    if link not in LINK_FILTERS:
        link = "all"
    classification = request.args.get("classification", "all")
    if classification not in CLASSIFICATIONS:
        classification = "all"
    after_text = request.args.get("after", "")
    after = int(after_text) if after_text.isdigit() else 0
    rows, counts, next_after = _accounts(org, integration_id, classification, link, after)
    next_url = first_url = None
    if next_after is not None:
        next_url = url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            classification=classification,
            link=link,
            after=next_after,
            _anchor="accounts-h",
        )
    if after:
        first_url = url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            classification=classification,
            link=link,
            _anchor="accounts-h",
        )
    notice = NOTICES.get(request.args.get("notice", ""))
    return page(
        "integration.html",
        status=status,
        org=org,
        section="integrations",
        overview=overview,
        integration=overview.integration,
        credential=_vault().describe(integration_id),
        oauth_preset=_preset(org, overview),
        delegated_scopes=_delegated_scopes(overview.connector),
        consent_link=_consent_link(org, overview),
        oauth_preset_needs=_preset_needs(org, overview),
        can_discover=_can_discover(overview.connector),
        blocker=_blocker(org, overview),
        last_run=_last_run(org, integration_id),
        rows=rows,
        counts=counts,
        total=sum(counts.values()),
        next_url=next_url,
        first_url=first_url,
        link=link,
        link_filters=LINK_FILTERS,
        classification=classification,
        classifications=CLASSIFICATIONS,
        form_kinds=FORM_KINDS,
        oauth_kinds=OAUTH_KINDS,
        token_auth_methods=TOKEN_AUTH_METHODS,
        delete_policies=DELETE_POLICIES,
        redirect_uri=base_url(console().settings.public_url) + CALLBACK_PATH,
        notice=notice,
        **extra,
    )


@bp.get("/o/<slug>/integrations")
@login_required
def integrations(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    deleted = request.args.get("deleted", "")[:200]
    return page(
        "integrations.html",
        org=org,
        section="integrations",
        integrations=_overviews(org),
        deleted=deleted,
    )


@bp.get("/o/<slug>/integrations/<int:integration_id>")
@login_required
def integration_detail(slug: str, integration_id: int) -> ResponseReturnValue:
    return _detail(organization(slug), integration_id)


@bp.get("/integrations/<int:integration_id>")
@login_required
def integration_by_id(integration_id: int) -> ResponseReturnValue:
    """Where the OAuth pages lead back to: they know the integration, not its
    organization. 404 unless it is one of the signed-in admin's organizations'."""
    owner = console().parts.need_sql("integrations").flows.organization_of(integration_id)
    mine = {o.id: o for o in my_organizations()}
    if owner is None or owner not in mine:
        abort(404)
    target = url_for(
        "admin.integration_detail", slug=mine[owner].slug, integration_id=integration_id
    )
    if request.args.get("connected") == "1":
        target += "?notice=oauth_connected"
    return redirect(target, code=303)


def _stored_client_secret(integration_id: int) -> str:
    """The stored OAuth client's secret ("" when the stored credential is no OAuth client),
    for a resubmitted OAuth form whose secret field was left empty."""
    vault = _vault()
    if vault.describe(integration_id).kind not in OAUTH_KINDS:
        return ""
    stored = vault.get(integration_id)
    if isinstance(stored, OAuthClientCredentials | OAuthAuthorizationCode):
        return stored.client_secret
    return ""  # pragma: no cover - describe() said it is an OAuth client


def _oauth_credential(kind: str, integration_id: int, preset: OAuthPreset | None) -> Credential:
    form = request.form
    method = form.get("token_auth_method", "client_secret_basic")
    if method not in TOKEN_AUTH_METHODS:
        raise CredentialError("token_auth_method must be client_secret_basic or client_secret_post")
    secret = form.get("client_secret", "") or _stored_client_secret(integration_id)
    token_url = form.get("token_url", "").strip() or (preset.token_url if preset else "")
    client_id = form.get("client_id", "").strip()
    scopes = tuple(form.get("scopes", "").split()) or (preset.scopes if preset else ())
    authorize_url = form.get("authorize_url", "").strip() or (
        preset.authorize_url if preset else ""
    )
    if kind == "oauth_client_credentials":
        return OAuthClientCredentials(
            token_url=token_url,
            client_id=client_id,
            client_secret=secret,
            scopes=scopes,
            token_auth_method=cast(TokenAuthMethod, method),
        )
    return OAuthAuthorizationCode(
        authorize_url=authorize_url,
        token_url=token_url,
        client_id=client_id,
        client_secret=secret,
        scopes=scopes,
        token_auth_method=cast(TokenAuthMethod, method),
    )


#: The credential fields a refused form shows again, with their lengths (never a secret).
CREDENTIAL_ECHO = {"header": 100, "prefix": 100, "username": 256}


def echoed(form: Any, limits: dict[str, int]) -> dict[str, str]:
    """The named fields of a refused form, each cut to its limit, to show it again."""
    return {name: str(form.get(name, ""))[:limit] for name, limit in limits.items()}


def explained(message: str) -> tuple[str, str | None]:
    """The vault's message with the field named as the form labels it, and that field."""
    for name, label in FIELD_LABELS.items():
        if message.startswith(name + " "):
            return label + message[len(name) :], FORM_FIELDS.get(name, name)
    return message, None


def form_credential(
    kind: str,
    integration_id: int,
    preset: OAuthPreset | None = None,
    *,
    delegated: tuple[str, ...] = (),
) -> Credential:
    """The credential in the submitted form, an OAuth client's empty endpoints and
    scopes taken from the connector's ``preset``, a service account's scopes from what
    the connector needs ``delegated``. Errors never quote a submitted value."""
    form = request.form
    if kind in OAUTH_KINDS:
        return _oauth_credential(kind, integration_id, preset)
    if kind == "google_service_account":
        upload = request.files.get("key_file")
        data = upload.read(KEY_FILE_MAX + 1) if upload is not None else b""
        if not data or len(data) > KEY_FILE_MAX:
            raise CredentialError("key_file must be the service account's JSON key file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CredentialError("key_file must be the service account's JSON key file") from None
        return GoogleServiceAccount.from_key_file(
            text, subject=form.get("subject", "").strip(), scopes=delegated
        )
    if kind == "api_key":
        return ApiKey(
            header=form.get("header", "").strip() or "Authorization",
            value=form.get("secret", ""),
            prefix=form.get("prefix", "").strip(),
        )
    if kind == "bearer":
        return BearerToken(form.get("secret", ""))
    totp = form.get("totp_secret", "").strip() or None
    return IdPassword(form.get("username", "").strip(), form.get("secret", ""), totp)


@bp.post("/o/<slug>/integrations/<int:integration_id>/credential")
@login_required
def integration_credential(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    overview = _overview(org, integration_id)
    kind = request.form.get("kind", "")
    if kind not in FORM_KINDS:
        abort(
            400,
            description="Choose an API key, a bearer token, an ID and password or an OAuth client.",
        )
    try:
        credential = form_credential(
            kind,
            integration_id,
            _preset(org, overview),
            delegated=_delegated_scopes(overview.connector),
        )
        info = _vault().put(integration_id, credential)
    except CredentialError as exc:
        # CredentialError messages name fields, never values; the form is re-rendered
        # with its non-secret fields only.
        message, field = explained(str(exc))
        form = request.form
        return _detail(
            org,
            integration_id,
            status=400,
            form_error=message,
            form_error_field=field,
            form_kind=kind,
            form_values=echoed(
                form,
                {
                    **CREDENTIAL_ECHO,
                    "authorize_url": 2000,
                    "token_url": 2000,
                    "client_id": 256,
                    "scopes": 2000,
                    "token_auth_method": 32,
                },
            ),
        )
    audit(org, "credential.set", overview.integration.display_name, kind=info.kind)
    notice = "oauth_saved" if info.kind == "oauth_authorization_code" else "credential_saved"
    return redirect(
        url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            notice=notice,
        ),
        code=303,
    )


@bp.route("/o/<slug>/integrations/<int:integration_id>/credential/delete", methods=["GET", "POST"])
@login_required
def integration_credential_delete(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    overview = _overview(org, integration_id)
    name = overview.integration.display_name
    if not confirmed():
        return confirm_page(
            org,
            integration_id,
            question=f"Delete the credential of {name}?",
            warning=(
                "Provisioning and Sync now stop working for this integration until a new "
                "credential is stored. The secret cannot be shown or restored; revoke it "
                "at the service as well."
            ),
            action="admin.integration_credential_delete",
            button="Delete credential",
        )
    if _vault().delete(integration_id):
        audit(org, "credential.deleted", name)
    return redirect(
        url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            notice="credential_deleted",
        ),
        code=303,
    )


@bp.post("/o/<slug>/integrations/<int:integration_id>/integrate")
@login_required
def integration_integrate(slug: str, integration_id: int) -> ResponseReturnValue:
    """Mint a one-time ticket (as ``scimserver integrations oauth-link`` does) and send
    the browser on to the OAuth start URL, which redirects to the provider's consent page."""
    org = organization(slug)
    overview = _overview(org, integration_id)
    vault = _vault()
    if vault.describe(integration_id).kind != "oauth_authorization_code":
        abort(400, description="This service is not set up for the OAuth sign-in.")
    try:
        ticket = OAuthFlow(vault, console().parts.need_sql("OAuth").flows).issue_ticket(
            org.id, integration_id
        )
    except CredentialError as exc:
        return _detail(org, integration_id, status=400, integrate_error=str(exc))
    audit(org, "integration.oauth_started", overview.integration.display_name)
    # Not a 3xx: the console's CSP has ``form-action 'self'``, and browsers apply it to
    # the redirects that follow a form post, so a redirect chain ending at the provider
    # would be blocked. The page moves on by itself (meta refresh) or by its link.
    return page(
        "integrate.html",
        org=org,
        section="integrations",
        integration=overview.integration,
        start_url=url_for("oauth.start", integration_id=integration_id, ticket=ticket),
    )


def _run_sync(org_id: str, integration_id: int, out: list[SyncResult | str]) -> None:
    parts = console().parts

    def work() -> None:
        try:
            out.append(
                run_sync(
                    parts.provisioning,
                    parts.credential_source,
                    org_id,
                    integration_id,
                    timeout=SYNC_REQUEST_TIMEOUT,
                )
            )
        except ConnectorError as exc:
            out.append(exc.message)
        except Exception:  # a background run must not die silently
            log.exception("console sync of integration %s failed", integration_id)
            out.append("the sync stopped on an unexpected error")

    thread = threading.Thread(target=work, name=f"console-sync-{integration_id}", daemon=True)
    thread.start()
    thread.join(SYNC_WAIT_SECONDS)


@bp.post("/o/<slug>/integrations/<int:integration_id>/sync")
@login_required
def integration_sync(slug: str, integration_id: int) -> ResponseReturnValue:
    """Run discovery now: wait up to :data:`SYNC_WAIT_SECONDS` for it, else let it go on."""
    org = organization(slug)
    overview = _overview(org, integration_id)

    def back(notice: str) -> ResponseReturnValue:
        return redirect(
            url_for(
                "admin.integration_detail",
                slug=org.slug,
                integration_id=integration_id,
                notice=notice,
            ),
            code=303,
        )

    if not _can_discover(overview.connector):
        return back("sync_unsupported")
    started = overview.last_sync_started
    if (
        overview.integration.status == "syncing"
        and started is not None
        and datetime.now(UTC) - started < STALE_SYNC
    ):
        return back("sync_busy")
    out: list[SyncResult | str] = []
    _run_sync(org.id, integration_id, out)
    if not out:
        audit(org, "sync.started", overview.integration.display_name, status="running")
        return back("sync_running")
    result = out[0]
    if isinstance(result, str):
        audit(org, "sync.started", overview.integration.display_name, status="failed")
        return _detail(org, integration_id, status=400, sync_error=result)
    audit(
        org,
        "sync.started",
        overview.integration.display_name,
        status=result.run.status,
        run=result.run.id,
    )
    return back("sync_done")
