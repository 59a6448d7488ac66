"""An integration's settings on its page: rename it, change its license profiles and
what removing a user does to the remote account, switch provisioning on or off, test
its connection, or delete it (after a confirmation).

What ``scimserver services update`` and ``services delete`` do, through the same
account-store calls (``update_integration``, ``delete_integration``), so the rules are
the store's: a taken name, or a license profile that accounts still hold, is refused
with the store's message and nothing changes.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import ScimError
from scimcore.accounts import DEPROVISION_POLICIES
from scimcore.adapters.connectors import ConnectorError, load

from ..integration_setup import SetupError, check_connection, switch_provisioning
from .blueprint import audit, bp, console, login_required, organization
from .views_integrations import _detail, _overview, confirm_page, confirmed

NAME_MAX = 200
PROFILES_MAX = 100


@bp.post("/o/<slug>/integrations/<int:integration_id>/settings")
@login_required
def integration_settings_save(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    integration = _overview(org, integration_id).integration
    form = request.form
    name = form.get("display_name", "").strip()
    on_delete = form.get("on_delete", "")
    profiles = [p.strip() for p in form.get("license_profiles", "").splitlines() if p.strip()]
    problem = None
    if not name or len(name) > NAME_MAX:
        problem = f"Enter a name of 1 to {NAME_MAX} characters."
    elif on_delete not in DEPROVISION_POLICIES:
        problem = "Choose what removing a user does to the remote account."
    elif len(profiles) > PROFILES_MAX or any(len(p) > NAME_MAX for p in profiles):
        problem = f"At most {PROFILES_MAX} license profiles of {NAME_MAX} characters each."
    if problem is None:
        try:
            with console().accounts.accounts(org.id) as session:
                session.update_integration(
                    integration_id,
                    display_name=name,
                    license_profiles=profiles if integration.service.license_profiles else None,
                    on_service_account_delete=on_delete,  # type: ignore[arg-type]
                )
        except ScimError as exc:
            problem = exc.detail
    if problem is not None:
        return _detail(
            org,
            integration_id,
            status=400,
            settings_error=problem,
            settings_values={
                "display_name": name[:NAME_MAX],
                "license_profiles": "\n".join(profiles)[:10_000],
                "on_delete": on_delete,
            },
        )
    audit(
        org,
        "integration.updated",
        name,
        license_profiles=", ".join(profiles) or "none",
        on_delete=on_delete,
    )
    return redirect(
        url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            notice="settings_saved",
        ),
        code=303,
    )


@bp.route("/o/<slug>/integrations/<int:integration_id>/delete", methods=["GET", "POST"])
@login_required
def integration_delete(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    overview = _overview(org, integration_id)
    name = overview.integration.display_name
    if not confirmed():
        return confirm_page(
            org,
            integration_id,
            question=f"Delete the integration {name}?",
            warning=(
                f"Its {overview.account_count} account record(s), jobs, credential and "
                "history here are deleted. Nothing changes at the service: its accounts "
                "stay as they are."
            ),
            action="admin.integration_delete",
            button="Delete integration",
        )
    with console().accounts.accounts(org.id) as session:
        forgotten = session.delete_integration(integration_id)
    audit(org, "integration.deleted", name, accounts_forgotten=forgotten)
    return redirect(url_for("admin.integrations", slug=org.slug, deleted=name), code=303)


@bp.post("/o/<slug>/integrations/<int:integration_id>/provisioning")
@login_required
def integration_provisioning(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    integration = _overview(org, integration_id).integration
    enabled = request.form.get("enabled") == "on"
    try:
        switch_provisioning(console().parts.provisioning, org.id, integration_id, enabled)
    except SetupError as exc:
        return _detail(org, integration_id, status=400, provisioning_error=str(exc))
    audit(org, "provisioning.switched", integration.display_name, enabled=enabled)
    return redirect(
        url_for(
            "admin.integration_detail",
            slug=org.slug,
            integration_id=integration_id,
            notice="provisioning_on" if enabled else "provisioning_off",
        ),
        code=303,
    )


@bp.post("/o/<slug>/integrations/<int:integration_id>/test")
@login_required
def integration_test(slug: str, integration_id: int) -> ResponseReturnValue:
    """The connector's connection test, answered on the page (nothing is changed)."""
    org = organization(slug)
    integration = _overview(org, integration_id).integration
    binding = console().parts.provisioning.binding(org.id, integration_id)
    if binding is None or not binding.connector:
        return _detail(org, integration_id, status=400, test_result=(False, "No connector."))
    try:
        connector = load(binding.connector)
    except ConnectorError as exc:
        return _detail(org, integration_id, status=400, test_result=(False, exc.message))
    check = check_connection(console().parts.credential_source, binding, connector)
    audit(org, "connection.tested", integration.display_name, ok=check.ok)
    return _detail(org, integration_id, test_result=(check.ok, check.message))
