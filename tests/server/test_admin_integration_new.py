"""Integrations > Add integration (Flask test client, SQLite and PostgreSQL).

The form does what ``scimserver services create``, ``services connect`` and
``integrations credential set`` do; a refused form writes nothing and says what to
correct; the secret typed into it is never shown again.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore.adapters.connectors.credentials import CredentialVault
from scimcore.storage.sql.credentials import SqlCredentialStore
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.tables import integration_connectors, integrations

from .admin_support import Tenant, make_app, new_admin, new_tenant, page_token, sign_in

BEARER = "bt-add-form-TOPSECRET-0123456789-tok9"


def _new(tenant: Tenant) -> str:
    return f"/admin/o/{tenant.slug}/integrations/new"


def _names(app: Any, tenant: Tenant) -> list[str]:
    with app.extensions["scimserver_admin"].accounts.accounts(tenant.id, readonly=True) as s:
        return sorted(i.display_name for i in s.integrations())


def _post(client: Any, tenant: Tenant, **data: str) -> Any:
    token = page_token(client, _new(tenant))
    return client.post(_new(tenant), data={"csrf_token": token, **data})


def test_add_scim2_integration_with_bearer_token_binds_connector_and_stores_secret(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    listing = client.get(f"/admin/o/{tenant.slug}/integrations").get_data(as_text=True)
    assert _new(tenant) in listing and "Add integration" in listing
    posted = _post(
        client,
        tenant,
        display_name="Wiki",
        connector="scim2",
        url="https://wiki.example.com/scim/v2",
        credential_kind="bearer",
        secret=BEARER,
        provisioning="on",
    )
    assert posted.status_code == 303, posted.get_data(as_text=True)
    detail = client.get(posted.headers["Location"])
    html = detail.get_data(as_text=True)
    assert "The integration was added" in html and "scim2" in html and "bearer" in html
    assert BEARER not in html and BEARER[-4:] in html  # only the vault's hint
    engine = console_app.extensions["scimserver_admin"].store.engine
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(integrations).where(
                integrations.c.organization_id == tenant.id, integrations.c.display_name == "Wiki"
            )
        ).one()
    assert row.kind == "scim2" and row.provisioning_enabled and not row.is_manual
    binding = SqlProvisioningStore(engine).binding(tenant.id, row.id)
    assert binding is not None and binding.connector == "scim2"
    assert binding.settings["base_url"] == "https://wiki.example.com/scim/v2"
    vault = CredentialVault(
        SqlCredentialStore(engine), console_app.extensions["scimserver_admin"].keyring
    )
    assert vault.describe(row.id).kind == "bearer"
    assert vault.access_token(row.id) == BEARER
    activity = client.get(f"/admin/o/{tenant.slug}/activity").get_data(as_text=True)
    assert BEARER not in activity


@pytest.mark.parametrize(
    ("connector", "url", "kind", "manual"),
    [
        ("webhook", "https://hooks.example.com/scim", "manual", False),
        ("manual", "", "manual", True),
    ],
)
def test_add_webhook_or_manual_integration_without_credential(
    client: Any, console_app: Any, tenant: Tenant, connector: str, url: str, kind: str, manual: bool
) -> None:
    posted = _post(client, tenant, display_name="Portal", connector=connector, url=url)
    assert posted.status_code == 303, posted.get_data(as_text=True)
    engine = console_app.extensions["scimserver_admin"].store.engine
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(integrations).where(
                integrations.c.organization_id == tenant.id, integrations.c.display_name == "Portal"
            )
        ).one()
    assert (row.kind, row.is_manual, row.provisioning_enabled) == (kind, manual, False)
    binding = SqlProvisioningStore(engine).binding(tenant.id, row.id)
    assert binding is not None and binding.connector == connector
    assert dict(binding.settings) == ({"url": url} if url else {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"display_name": "   "}, "Enter a name for the integration"),
        ({"url": ""}, "Enter the service URL"),
        ({"url": "wiki.example.com/scim"}, "must be an http:// or https:// URL"),
        ({"url": "https://"}, "must be an http:// or https:// URL"),
        ({"connector": "no-such-connector"}, "Choose a connector"),
        ({"kind": "mainframe"}, "Choose a service type"),
        ({"credential_kind": "bearer", "secret": ""}, "token is required"),
        ({"credential_kind": "api_key", "header": "Bad Header:"}, "header must be"),
    ],
)
def test_refused_form_writes_nothing_and_says_what_to_correct(
    client: Any, console_app: Any, tenant: Tenant, data: dict[str, str], message: str
) -> None:
    form = {
        "display_name": "Wiki",
        "connector": "scim2",
        "url": "https://wiki.example.com/scim/v2",
        "credential_kind": "none",
        "secret": BEARER,
        **data,
    }
    refused = _post(client, tenant, **form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "The integration was not added" in html and message in html
    assert 'aria-invalid="true"' in html
    assert BEARER not in html
    assert _names(console_app, tenant) == []


def test_duplicate_name_is_refused_with_a_clear_message(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    form = {"display_name": "Wiki", "connector": "manual"}
    assert _post(client, tenant, **form).status_code == 303
    again = _post(client, tenant, **{**form, "display_name": "wiki"})
    assert again.status_code == 400
    assert "An integration named “wiki” already exists" in again.get_data(as_text=True)
    assert _names(console_app, tenant) == ["Wiki"]


def test_credential_without_key_ring_is_refused_before_anything_is_written(
    database_url: str,
) -> None:
    from scimserver import Settings, create_app

    app = create_app(Settings(database_url=database_url, public_url="https://scim.example.com"))
    tenant = new_tenant(app)
    client = app.test_client()
    assert sign_in(client, new_admin(app, tenant)).status_code == 302
    assert "No key ring is configured" in client.get(_new(tenant)).get_data(as_text=True)
    refused = _post(
        client,
        tenant,
        display_name="Wiki",
        connector="scim2",
        url="https://wiki.example.com/scim/v2",
        credential_kind="bearer",
        secret=BEARER,
    )
    assert refused.status_code == 400
    assert "SCIMSERVER_SECRET_KEYS" in refused.get_data(as_text=True)
    assert _names(app, tenant) == []


def test_add_form_without_csrf_token_is_refused(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    refused = client.post(_new(tenant), data={"display_name": "Wiki", "connector": "manual"})
    assert refused.status_code in (400, 403)
    assert _names(console_app, tenant) == []


def test_another_organizations_add_form_is_not_found(client: Any, console_app: Any) -> None:
    other = new_tenant(console_app)
    assert client.get(_new(other)).status_code == 404


def test_cli_services_connect_refuses_a_malformed_base_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    runner = CliRunner()
    made = runner.invoke(main, ["services", "create", tenant.slug, "Wiki", "--kind", "scim2"])
    assert made.exit_code == 0, made.output
    refused = runner.invoke(
        main,
        [
            "services",
            "connect",
            tenant.slug,
            "Wiki",
            "--connector",
            "scim2",
            "--setting",
            "base_url=wiki.example.com",
        ],
    )
    assert refused.exit_code != 0
    assert "base_url must be an http:// or https:// URL" in refused.output


def test_cli_services_connect_test_that_fails_exits_1_and_says_it_was_saved(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import socket

    from scimserver.cli import main

    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    runner = CliRunner()
    made = runner.invoke(main, ["services", "create", tenant.slug, "Wiki", "--kind", "scim2"])
    assert made.exit_code == 0, made.output
    connect = [
        "services",
        "connect",
        tenant.slug,
        "Wiki",
        "--connector",
        "scim2",
        "--setting",
        f"base_url=http://127.0.0.1:{port}/scim/v2",
        "--test",
    ]
    failed = runner.invoke(main, connect)
    assert failed.exit_code == 1, failed.output
    assert "connection test: FAILED" in failed.output and "saved" in failed.output
    as_json = runner.invoke(main, [*connect, "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout.strip().splitlines()[0])
    assert data["saved"] is True and data["connection"]["ok"] is False
    with app.extensions["scimcore"]["store"].engine.connect() as conn:
        saved = conn.execute(
            sa.select(integration_connectors.c.connector)
            .join(integrations, integrations.c.id == integration_connectors.c.integration_id)
            .where(integrations.c.organization_id == tenant.id)
            .where(integrations.c.display_name == "Wiki")
        ).scalar_one()
    assert saved == "scim2"


def test_a_new_connector_declares_its_address_setting_and_the_console_asks_for_it(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """A connector registered from outside (one module and its registration, nothing
    else) is offered by the form, and its declared address is required and checked."""
    from scimcore.adapters.connectors.manual import ManualConnector
    from scimcore.provisioning.registry import register

    class Directory(ManualConnector):
        name = "test_directory"
        display_name = "Test directory"
        address_setting = "endpoint"

    register(Directory)
    assert "test_directory" in _post(client, tenant).get_data(as_text=True)
    form = {"display_name": "Dir", "connector": "test_directory", "credential_kind": "none"}
    missing = _post(client, tenant, **form)
    assert missing.status_code == 400 and "Enter the service URL" in missing.get_data(as_text=True)
    wrong = _post(client, tenant, **form, url="dir.example.com")
    assert "must be an http:// or https:// URL" in wrong.get_data(as_text=True)
    assert _post(client, tenant, **form, url="https://dir.example.com/api").status_code == 303
    prov = SqlProvisioningStore(console_app.extensions["scimserver_admin"].store.engine)
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as s:
        (added,) = [i for i in s.integrations() if i.display_name == "Dir"]
    binding = prov.binding(tenant.id, added.id)
    assert binding is not None and binding.connector == "test_directory"
    assert binding.settings["endpoint"] == "https://dir.example.com/api"


class _Tenanted:
    """A connector whose address is built from a subdomain (as cybozu.com's is)."""

    name = "test_tenanted"
    display_name = "Tenanted"
    address_setting = "base_url"
    address_template = "https://{subdomain}.tenanted.example/api"


def _tenanted() -> str:
    from scimcore.adapters.connectors.manual import ManualConnector
    from scimcore.provisioning.registry import register

    register(type("Tenanted", (_Tenanted, ManualConnector), {}))
    return _Tenanted.name


def test_a_connector_with_an_address_template_takes_the_subdomain_alone(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    name = _tenanted()
    form_page = _post(client, tenant).get_data(as_text=True)
    assert "https://{subdomain}.tenanted.example/api" in form_page
    form = {"display_name": "Ten", "connector": name, "credential_kind": "none"}
    for typed in ("acme.evil.example/x", "-acme", "acme_corp"):
        wrong = _post(client, tenant, **form, url=typed)
        assert wrong.status_code == 400, typed
        assert "subdomain must be letters, digits and inner hyphens" in wrong.get_data(as_text=True)
    assert _post(client, tenant, **form, url=" acme ").status_code == 303
    prov = SqlProvisioningStore(console_app.extensions["scimserver_admin"].store.engine)
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as s:
        (added,) = [i for i in s.integrations() if i.display_name == "Ten"]
    binding = prov.binding(tenant.id, added.id)
    assert binding is not None
    assert binding.settings["base_url"] == "https://acme.tenanted.example/api"
    assert binding.settings["subdomain"] == "acme"


def test_cli_services_connect_builds_the_address_from_the_template_unless_given(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    name = _tenanted()
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    runner = CliRunner()
    made = runner.invoke(main, ["services", "create", tenant.slug, "Ten", "--kind", "manual"])
    assert made.exit_code == 0, made.output
    connect = ["services", "connect", tenant.slug, "Ten", "--connector", name, "--setting"]
    refused = runner.invoke(main, [*connect, "subdomain=acme.example.com/x"])
    assert refused.exit_code != 0 and "subdomain must be letters" in refused.output
    engine = app.extensions["scimcore"]["store"].engine

    def saved() -> dict[str, Any]:
        with engine.connect() as conn:
            integration_id = conn.execute(
                sa.select(integrations.c.id).where(
                    integrations.c.organization_id == tenant.id,
                    integrations.c.display_name == "Ten",
                )
            ).scalar_one()
        binding = SqlProvisioningStore(engine).binding(tenant.id, integration_id)
        assert binding is not None
        return dict(binding.settings)

    done = runner.invoke(main, [*connect, "subdomain=acme"])
    assert done.exit_code == 0, done.output
    assert saved()["base_url"] == "https://acme.tenanted.example/api"
    direct = runner.invoke(main, [*connect, "base_url=http://127.0.0.1:9/api"])
    assert direct.exit_code == 0, direct.output
    assert saved()["base_url"] == "http://127.0.0.1:9/api"


def test_google_workspace_is_offered_and_its_service_type_follows_the_connector(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    assert '<option value="google_workspace"' in _post(client, tenant).get_data(as_text=True)
    form = {"display_name": "Google", "connector": "google_workspace", "credential_kind": "none"}
    assert _post(client, tenant, **form).status_code == 303  # no address to ask for
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as s:
        (added,) = [i for i in s.integrations() if i.display_name == "Google"]
    assert added.kind == "google_workspace" and added.service.mail_proxy
    prov = SqlProvisioningStore(console_app.extensions["scimserver_admin"].store.engine)
    binding = prov.binding(tenant.id, added.id)
    assert binding is not None and binding.connector == "google_workspace"


def test_a_bad_totp_secret_marks_the_totp_field_not_the_password(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    refused = _post(
        client,
        tenant,
        display_name="Portal",
        connector="manual",
        credential_kind="id_password",
        username="admin@example.com",
        secret="a-password-123",
        totp_secret="not base32 !!",
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "The TOTP secret is not valid base32" in html
    (invalid,) = re.findall(r'<input [^>]*aria-invalid="true"[^>]*>', html)
    assert 'name="totp_secret"' in invalid
    assert "not base32 !!" not in html and "a-password-123" not in html


def test_a_catalog_service_added_in_the_console_gets_its_documented_pace(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """Zoom allows one request a second: the console's form applies that as the CLI does,
    and Zoom has one address, so the form asks for none."""
    form = {"display_name": "Zoom", "connector": "zoom", "credential_kind": "none"}
    added = _post(client, tenant, **form)
    assert added.status_code == 303, added.get_data(as_text=True)
    with console_app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as s:
        (zoom,) = [i for i in s.integrations() if i.display_name == "Zoom"]
    prov = SqlProvisioningStore(console_app.extensions["scimserver_admin"].store.engine)
    binding = prov.binding(tenant.id, zoom.id)
    assert binding is not None and (binding.min_interval_ms, binding.max_concurrency) == (1000, 1)
    assert binding.settings["base_url"] == "https://api.zoom.us/scim2"  # nothing to type
