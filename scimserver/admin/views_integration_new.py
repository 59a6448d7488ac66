"""Integrations > Add integration: what ``scimserver services create``, ``services
connect`` and ``integrations credential set`` do, in one form.

Everything is checked before anything is written (the name, the service type, the
connector and its URL, the credential and the key ring that would encrypt it), so a
refused form leaves no half-made integration behind. The writes are the CLI's: the
account store's ``create_integration``, :func:`scimserver.integration_setup.connect`
and the credential vault. A refused form comes back with its non-secret fields only.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization, ScimError
from scimcore.accounts import (
    CATALOG,
    DEPROVISION_POLICIES,
    IntegrationSettings,
    ServiceKind,
)
from scimcore.adapters.connectors import available
from scimcore.adapters.connectors.credentials import Credential, CredentialError
from scimcore.provisioning.connector import address_fields

from ..integration_setup import (
    SetupError,
    address_setting,
    address_template,
    check_url,
    connect,
    load_connector,
    with_address,
)
from .blueprint import audit, bp, console, login_required, organization, page
from .views_integrations import (
    CREDENTIAL_ECHO,
    DELETE_POLICIES,
    _vault,
    echoed,
    explained,
    form_credential,
)

#: Built-in connectors come from this package; they are listed first.
BUILT_IN_PACKAGE = "scimcore."
#: Credentials this form stores; OAuth clients are set on the integration's page.
CREDENTIAL_KINDS = {
    "none": "None (or set it later)",
    "bearer": "Bearer token",
    "api_key": "API key",
    "id_password": "ID and password",
}
NAME_MAX = 200


class FormError(Exception):
    """A field the admin has to correct; ``field`` is the form field's name."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _connectors() -> list[str]:
    """Every registered connector: the built-in ones first, each group by name."""
    found = available()
    return sorted(found, key=lambda n: (not found[n].startswith(BUILT_IN_PACKAGE), n))


def _address_setting(connector_name: str) -> str | None:
    try:
        return address_setting(load_connector(connector_name, {}))
    except SetupError:
        return None


def _templates() -> dict[str, str]:
    """Connector -> its address template, for the connectors whose address is built
    from what the admin knows (a subdomain, an enterprise slug)."""
    found: dict[str, str] = {}
    for name in _connectors():
        try:
            template = address_template(load_connector(name, {}))
        except SetupError:
            continue
        if template is not None:
            found[name] = template
    return found


def _address(connector_name: str, typed: str) -> dict[str, Any]:
    """The settings the "Service URL" field gives: a URL, or, for a connector with an
    address template of one field, that field's value alone (``acme`` for
    ``https://{subdomain}.cybozu.com``)."""
    key = _address_setting(connector_name)
    if key is None:
        return {}
    template = _templates().get(connector_name)
    fields = address_fields(template) if template else ()
    if not typed and template and not fields:
        return {key: template}  # the service's one address: nothing to type
    if not typed:
        example = f" ({template})" if template else ""
        raise FormError(
            f"Enter the service URL{example}: the {connector_name} connector needs it.", "url"
        )
    if len(fields) == 1 and "://" not in typed:
        try:
            return with_address(load_connector(connector_name, {}), {fields[0]: typed})
        except SetupError as exc:
            raise FormError(f"The service URL: {exc}.", "url") from None
    try:
        return {key: check_url("The service URL", typed)}
    except SetupError as exc:
        raise FormError(str(exc), "url") from None


def _form_page(org: Organization, status: int = 200, **extra: Any) -> ResponseReturnValue:
    return page(
        "integration_new.html",
        status=status,
        org=org,
        section="integrations",
        connectors=_connectors(),
        templates=_templates(),
        kinds={k: t.label for k, t in CATALOG.items()},
        credential_kinds=CREDENTIAL_KINDS,
        delete_policies={p: DELETE_POLICIES.get(p, p) for p in DEPROVISION_POLICIES},
        keyring=console().keyring is not None,
        **extra,
    )


@bp.get("/o/<slug>/integrations/new")
@login_required
def integration_new(slug: str) -> ResponseReturnValue:
    return _form_page(organization(slug), values={})


def _checked(org: Organization) -> tuple[str, ServiceKind, str, dict[str, Any], Credential | None]:
    """The submitted form as (name, kind, connector, settings, credential), or FormError."""
    form = request.form
    name = form.get("display_name", "").strip()
    if not name:
        raise FormError("Enter a name for the integration, e.g. Wiki.", "display_name")
    if len(name) > NAME_MAX:
        raise FormError(f"The name is longer than {NAME_MAX} characters.", "display_name")
    connector_name = form.get("connector", "")
    if connector_name not in _connectors():
        raise FormError("Choose a connector from the list.", "connector")
    # A connector named like a service type (scim2, google_workspace) implies it.
    kind_text = form.get("kind", "") or (connector_name if connector_name in CATALOG else "manual")
    if kind_text not in CATALOG:
        raise FormError("Choose a service type from the list.", "kind")
    settings = _address(connector_name, form.get("url", "").strip())
    try:
        load_connector(connector_name, settings)
    except SetupError as exc:
        raise FormError(str(exc), "connector") from None
    with console().accounts.accounts(org.id, readonly=True) as session:
        taken = {i.display_name.casefold() for i in session.integrations()}
    if name.casefold() in taken:
        raise FormError(
            f"An integration named “{name}” already exists. Choose another name, "
            "or open the existing one from the list.",
            "display_name",
        )
    credential_kind = form.get("credential_kind", "none")
    if credential_kind not in CREDENTIAL_KINDS:
        raise FormError("Choose a credential type from the list.", "credential_kind")
    credential = None
    if credential_kind != "none":
        try:
            credential = form_credential(credential_kind, 0)  # what was typed, first
            _vault().require_keyring()
        except CredentialError as exc:
            message, field = explained(str(exc))
            raise FormError(message, field or "secret") from None
    return name, kind_text, connector_name, settings, credential


@bp.post("/o/<slug>/integrations/new")
@login_required
def integration_create(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    form = request.form
    on_delete = form.get("on_delete", "deactivate_remote")
    if on_delete not in DEPROVISION_POLICIES:
        abort(400, description="Choose what removing a user does to the remote account.")
    provisioning = form.get("provisioning") == "on"
    try:
        name, kind, connector_name, settings, credential = _checked(org)
        with console().accounts.accounts(org.id) as session:
            integration = session.create_integration(
                name,
                kind,
                IntegrationSettings(on_service_account_delete=on_delete),
            )
    except (FormError, ScimError) as exc:
        message = exc.message if isinstance(exc, FormError) else exc.detail
        field = exc.field if isinstance(exc, FormError) else "display_name"
        return _form_page(
            org,
            status=400,
            error=message,
            error_field=field,
            values={
                **echoed(
                    form,
                    {
                        "display_name": NAME_MAX,
                        "kind": 32,
                        "connector": 100,
                        "url": 2000,
                        "credential_kind": 32,
                        **CREDENTIAL_ECHO,
                    },
                ),
                "on_delete": on_delete,
                "provisioning": provisioning,
            },
        )
    connect(
        console().parts.provisioning,
        org.id,
        integration.id,
        connector_name,
        settings,
        provisioning=provisioning,
    )
    audit(org, "integration.created", name, kind=kind, connector=connector_name)
    if credential is not None:
        info = _vault().put(integration.id, credential)
        audit(org, "credential.set", name, kind=info.kind)
    return redirect(
        url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration.id,
            notice="integration_created",
        ),
        code=303,
    )
