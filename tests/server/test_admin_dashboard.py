"""The dashboard, an organization's landing page (Flask test client, SQLite and PostgreSQL):
connection health per integration, leavers' and orphans' accounts still active, and
their actions ("Deprovision now" queues one job the worker runs; "Mark as exception"
takes an account off the list until undone), the same through ``scimserver accounts``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scimcore.adapters.connectors import Capability, ConnectionCheck, RemoteAccount
from scimcore.provisioning.connector import AccountRef, ConnectorContext
from scimcore.provisioning.discovery import sync
from scimcore.provisioning.registry import register
from scimcore.provisioning.worker import Worker
from scimcore.storage.sql.provisioning import SqlProvisioningStore
from scimcore.storage.sql.tables import (
    account_exceptions,
    admin_audit,
    events,
    integration_connectors,
    integrations,
    jobs,
    service_accounts,
)

from .admin_support import (
    Tenant,
    create_service,
    create_user,
    make_app,
    new_admin,
    new_tenant,
    page_token,
    sign_in,
)


class FakeService:
    """A service that lists fixed accounts and records what the worker asks of it."""

    name: ClassVar[str] = "dashboard_test"
    display_name: ClassVar[str] = "Dashboard test"
    capabilities: ClassVar[Capability] = (
        Capability.DISCOVER | Capability.DEACTIVATE | Capability.DELETE
    )
    auth_methods: ClassVar[frozenset[str]] = frozenset({"none"})
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "email"
    accounts: ClassVar[list[RemoteAccount]] = []
    #: (organization id, account) of each call: PostgreSQL's database is shared by the
    #: session's tests, and the worker runs every organization's jobs.
    deactivated: ClassVar[list[tuple[str, AccountRef]]] = []
    deleted: ClassVar[list[tuple[str, AccountRef]]] = []

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        return ConnectionCheck(True)

    def iter_accounts(self, ctx: ConnectorContext, *, page_size: int = 100) -> Iterator[Any]:
        yield from type(self).accounts

    def find_account(self, ctx: ConnectorContext, **_: Any) -> None:
        return None

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        type(self).deactivated.append((ctx.organization_id, ref))

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        type(self).deleted.append((ctx.organization_id, ref))


class ListOnly(FakeService):
    name: ClassVar[str] = "dashboard_list_only"
    capabilities: ClassVar[Capability] = Capability.DISCOVER


register(FakeService)
register(ListOnly)


@pytest.fixture(autouse=True)
def _fresh_fake() -> None:
    FakeService.accounts = []
    FakeService.deactivated = []
    FakeService.deleted = []


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _engine(app: Any) -> sa.engine.Engine:
    return app.extensions["scimserver_admin"].store.engine  # type: ignore[no-any-return]


def _parts(app: Any) -> Any:
    return app.extensions["scimserver_admin"].parts


def _service(app: Any, tenant: Tenant, name: str, connector: str = "dashboard_test") -> int:
    create_service(app, tenant, name, "scim2")
    with app.extensions["scimserver_admin"].accounts.accounts(tenant.id) as session:
        found = next(i for i in session.integrations() if i.display_name == name)
    SqlProvisioningStore(_engine(app)).bind(tenant.id, found.id, connector, {})
    return int(found.id)


def _synced(app: Any, tenant: Tenant, integration_id: int) -> None:
    parts = _parts(app)
    result = sync(parts.provisioning, parts.credential_source, tenant.id, integration_id)
    assert result.ok, result.run.error


def _leavers(app: Any, client: Any, tenant: Tenant, connector: str = "dashboard_test") -> int:
    """Alice active (managed), Bob deactivated (a leaver), a partner in another domain
    (external) and a ghost nobody owns (an orphan), all active at the service."""
    create_user(
        client,
        tenant,
        "alice@example.com",
        displayName="Alice Active",
        emails=[{"value": "alice@example.com"}],
    )
    create_user(
        client,
        tenant,
        "bob@example.com",
        displayName="Bob Leaver",
        active=False,
        emails=[{"value": "bob@example.com"}],
    )
    SqlProvisioningStore(_engine(app)).add_domain(tenant.id, "example.com")
    FakeService.accounts = [
        RemoteAccount("r1", "alice@example.com", email="alice@example.com"),
        RemoteAccount(
            "r2",
            "bob@example.com",
            email="bob@example.com",
            last_access=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        ),
        RemoteAccount("r3", "partner@other.org", email="partner@other.org"),
        RemoteAccount("r4", "ghost@example.com", email="ghost@example.com"),
    ]
    integration = _service(app, tenant, "Wiki", connector)
    _synced(app, tenant, integration)
    return integration


def _home(tenant: Tenant) -> str:
    return f"/admin/o/{tenant.slug}/"


def _jobs(app: Any, tenant: Tenant) -> list[Any]:
    with _engine(app).connect() as conn:
        return list(
            conn.execute(
                sa.select(jobs).where(jobs.c.organization_id == tenant.id).order_by(jobs.c.id)
            ).mappings()
        )


def _account(app: Any, tenant: Tenant, account_id: str) -> Any:
    c = service_accounts.c
    with _engine(app).connect() as conn:
        return (
            conn.execute(
                sa.select(service_accounts).where(
                    c.organization_id == tenant.id, c.account_id == account_id
                )
            )
            .mappings()
            .first()
        )


def _calls(calls: list[tuple[str, AccountRef]], tenant: Tenant) -> list[AccountRef]:
    return [ref for org, ref in calls if org == tenant.id]


def _deprovision_path(tenant: Tenant, integration: int, account: str) -> str:
    return f"/admin/o/{tenant.slug}/leavers/deprovision?integration={integration}&account={account}"


def _deprovision(client: Any, tenant: Tenant, integration: int, account: str) -> Any:
    path = _deprovision_path(tenant, integration, account)
    return client.post(
        path, data={"csrf_token": page_token(client, _home(tenant)), "confirm": "yes"}
    )


def _except(client: Any, tenant: Tenant, integration: int, account: str, **form: str) -> Any:
    return client.post(
        f"/admin/o/{tenant.slug}/leavers/except",
        data={
            "csrf_token": page_token(client, _home(tenant)),
            "integration": str(integration),
            "account": account,
            **form,
        },
    )


def _run_worker(app: Any) -> Any:
    parts = _parts(app)
    return Worker(parts.provisioning, parts.credential_source).run(until_idle=True)


def _listed(html: str) -> str:
    """The leavers section of the dashboard."""
    return html.split('id="leavers-h"', 1)[1]


# -- landing page ---------------------------------------------------------------------------


def test_signing_in_and_the_organization_list_lead_to_the_dashboard_with_settings_in_the_nav(
    console_app: Any, tenant: Tenant
) -> None:
    client = console_app.test_client()
    signed = sign_in(client, new_admin(console_app, tenant))
    assert client.get(signed.headers["Location"]).headers["Location"].endswith(_home(tenant))
    html = _text(client.get(_home(tenant)))
    assert "<h1>Dashboard</h1>" in html
    assert 'aria-current="page">Dashboard<' in html
    assert f'href="/admin/o/{tenant.slug}/settings/scim"' in html
    other = new_tenant(console_app)
    two = console_app.test_client()
    sign_in(two, new_admin(console_app, tenant, other))
    assert f'href="/admin/o/{other.slug}/"' in _text(two.get("/admin/"))


# -- the list -------------------------------------------------------------------------------


def test_a_deactivated_users_and_an_orphans_active_accounts_show_but_managed_and_external_do_not(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    _leavers(console_app, client, tenant)
    html = _text(client.get(_home(tenant)))
    listed = _listed(html)
    assert "bob@example.com" in listed and "Bob Leaver" in listed and "(deactivated)" in listed
    assert "2026-01-02 03:04" in listed  # Bob's last access at the service
    assert "ghost@example.com" in listed and "nobody" in listed
    assert "alice@example.com" not in listed and "partner@other.org" not in listed
    assert "<strong>1</strong> leaver with active accounts" in html
    assert "<strong>1</strong> orphan<" in html
    assert ">Wiki</a></th>" in listed  # grouped under its service
    only_orphans = _listed(_text(client.get(_home(tenant) + "?show=unknown")))
    assert "ghost@example.com" in only_orphans and "bob@example.com" not in only_orphans


def test_a_deleted_users_account_shows_as_an_orphan(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    carol = create_user(
        client, tenant, "carol@example.com", emails=[{"value": "carol@example.com"}]
    )
    FakeService.accounts.append(RemoteAccount("r5", "carol@example.com", email="carol@example.com"))
    _synced(console_app, tenant, integration)
    assert "carol@example.com" not in _listed(_text(client.get(_home(tenant))))
    deleted = client.delete(
        f"/scim/v2/organizations/{tenant.slug}/Users/{carol['id']}",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert deleted.status_code == 204
    _synced(console_app, tenant, integration)
    assert "carol@example.com" in _listed(_text(client.get(_home(tenant) + "?show=unknown")))


def test_the_list_pages_by_keyset_over_services_and_visits_every_account_once(
    client: Any, console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.admin import views_dashboard

    monkeypatch.setattr(views_dashboard, "PAGE_SIZE", 2)
    SqlProvisioningStore(_engine(console_app)).add_domain(tenant.id, "example.com")
    FakeService.accounts = [
        RemoteAccount(f"o{n}", f"orphan{n}@example.com", email=f"orphan{n}@example.com")
        for n in range(3)
    ]
    for name in ("Wiki", "Chat"):
        _synced(console_app, tenant, _service(console_app, tenant, name))
    seen: list[str] = []
    path: str | None = _home(tenant)
    while path:
        html = _listed(_text(client.get(path)))
        seen += re.findall(r'<td class="long">(orphan\d@example\.com)', html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted([f"orphan{n}@example.com" for n in range(3)] * 2)


# -- connection health ----------------------------------------------------------------------


def test_health_shows_status_last_sync_errors_and_quarantine_and_counts_those_needing_attention(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    wiki = _leavers(console_app, client, tenant)
    chat = _service(console_app, tenant, "Chat")
    store = SqlProvisioningStore(_engine(console_app))
    store.set_integration_status(tenant.id, chat, "needs_reauth", "HTTP 401 from the service")
    html = _text(client.get(_home(tenant)))
    health = html.split('id="health-h"', 1)[1].split('id="leavers-h"', 1)[0]
    assert f'href="/admin/o/{tenant.slug}/integrations/{wiki}">Wiki<' in health
    assert f'href="/admin/o/{tenant.slug}/integrations/{chat}">Chat<' in health
    assert 'badge-succeeded">succeeded<' in health  # Wiki's last sync
    assert "needs re-authorization" in health and "HTTP 401 from the service" in health
    assert "<strong>1</strong> integration needs attention" in html
    since = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with _engine(console_app).begin() as conn:
        conn.execute(
            sa.update(integrations).where(integrations.c.id == wiki).values(status="quarantined")
        )
        conn.execute(
            sa.update(integration_connectors)
            .where(integration_connectors.c.integration_id == wiki)
            .values(quarantined_since=since, quarantine_next_trial=since + timedelta(hours=1))
        )
    html = _text(client.get(_home(tenant)))
    assert "since 2026-03-01 08:00; next trial 2026-03-01 09:00" in html
    assert "<strong>2</strong> integrations need attention" in html


# -- Deprovision now ------------------------------------------------------------------------


def test_deprovision_now_asks_first_then_queues_one_job_that_the_worker_runs_once(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    path = _deprovision_path(tenant, integration, "bob@example.com")
    asked = _text(client.get(path))
    assert "Deprovision bob@example.com in Wiki?" in asked
    assert "deactivates the account at the service" in asked
    unconfirmed = client.post(path, data={"csrf_token": page_token(client, _home(tenant))})
    assert unconfirmed.status_code == 200 and _jobs(console_app, tenant) == []
    first = _deprovision(client, tenant, integration, "bob@example.com")
    assert first.status_code == 303 and "notice=notice_queued" in first.headers["Location"]
    again = _deprovision(client, tenant, integration, "bob@example.com")
    assert "notice=notice_already" in again.headers["Location"]
    (job,) = _jobs(console_app, tenant)
    assert job["operation"] == "deprovision" and job["status"] == "pending"
    assert "deprovisioning queued" in _listed(_text(client.get(_home(tenant))))
    stats = _run_worker(console_app)
    assert stats.succeeded == 1
    assert _calls(FakeService.deactivated, tenant) == [
        AccountRef(remote_id="r2", account_id="bob@example.com")
    ]
    assert _calls(FakeService.deleted, tenant) == []
    assert _account(console_app, tenant, "bob@example.com")["remote_status"] == "suspended"
    assert "bob@example.com" not in _listed(_text(client.get(_home(tenant))))
    later = _deprovision(client, tenant, integration, "bob@example.com")
    assert "refused=not_a_leaver" in later.headers["Location"]
    assert len(_jobs(console_app, tenant)) == 1
    with _engine(console_app).connect() as conn:
        audited = conn.execute(
            sa.select(admin_audit.c.action, admin_audit.c.target).where(
                admin_audit.c.action == "account.deprovision_requested",
                admin_audit.c.organization_id == tenant.id,
            )
        ).all()
    assert [tuple(a) for a in audited] == [
        ("account.deprovision_requested", "Wiki: bob@example.com")
    ]


def test_deprovisioning_an_orphan_deletes_it_when_that_is_the_services_policy(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    with _engine(console_app).begin() as conn:
        conn.execute(
            sa.update(integrations)
            .where(integrations.c.id == integration)
            .values(on_service_account_delete="delete_remote")
        )
    path = _deprovision_path(tenant, integration, "ghost@example.com")
    assert "deletes the account at the service" in _text(client.get(path))
    assert (
        "notice_queued"
        in _deprovision(client, tenant, integration, "ghost@example.com").headers["Location"]
    )
    (job,) = _jobs(console_app, tenant)
    assert job["user_id"].startswith("service-account:")
    _run_worker(console_app)
    assert _calls(FakeService.deleted, tenant) == [
        AccountRef(remote_id="r4", account_id="ghost@example.com")
    ]
    assert _account(console_app, tenant, "ghost@example.com") is None
    with _engine(console_app).connect() as conn:
        deleted = conn.execute(
            sa.select(events.c.resource_type, events.c.resource_id).where(
                events.c.type == "account.deleted", events.c.organization_id == tenant.id
            )
        ).all()
    assert [tuple(d) for d in deleted] == [("ServiceAccount", f"{integration}:ghost@example.com")]


def test_deprovision_is_refused_when_the_policy_or_the_connector_cannot_do_it(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant, connector="dashboard_list_only")
    refused = _deprovision(client, tenant, integration, "bob@example.com")
    assert "refused=unsupported" in refused.headers["Location"]
    assert "connector cannot deactivate or delete" in _text(client.get(refused.headers["Location"]))
    with _engine(console_app).begin() as conn:
        conn.execute(
            sa.update(integrations)
            .where(integrations.c.id == integration)
            .values(on_service_account_delete="nothing")
        )
    refused = _deprovision(client, tenant, integration, "bob@example.com")
    assert "refused=policy_nothing" in refused.headers["Location"]
    assert _jobs(console_app, tenant) == []


# -- Mark as exception ----------------------------------------------------------------------


def test_an_exception_leaves_the_list_shows_as_such_and_comes_back_on_undo(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    no_reason = _except(client, tenant, integration, "ghost@example.com", reason="  ")
    assert "refused=reason_required" in no_reason.headers["Location"]
    marked = _except(client, tenant, integration, "ghost@example.com", reason="shared mailbox")
    assert "notice=notice_excepted" in marked.headers["Location"]
    html = _text(client.get(_home(tenant)))
    assert "ghost@example.com" not in _listed(html)
    assert "<strong>0</strong> orphans" in html and "<strong>1</strong> kept as exception<" in html
    kept = _listed(_text(client.get(_home(tenant) + "?show=exceptions")))
    assert "ghost@example.com" in kept and "shared mailbox" in kept and "Undo exception" in kept
    refused = _deprovision(client, tenant, integration, "ghost@example.com")
    assert "refused=excepted" in refused.headers["Location"] and _jobs(console_app, tenant) == []
    _synced(console_app, tenant, integration)  # a later sync keeps the exception
    assert "ghost@example.com" not in _listed(_text(client.get(_home(tenant))))
    undone = _except(client, tenant, integration, "ghost@example.com", undo="yes")
    assert "notice=notice_unexcepted" in undone.headers["Location"]
    assert "ghost@example.com" in _listed(_text(client.get(_home(tenant))))
    with _engine(console_app).connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(account_exceptions.c.organization_id == tenant.id)
            ).scalar()
            == 0
        )
        actions = conn.execute(
            sa.select(admin_audit.c.action)
            .where(
                admin_audit.c.action.like("account.exception%"),
                admin_audit.c.organization_id == tenant.id,
            )
            .order_by(admin_audit.c.id)
        ).scalars()
        assert list(actions) == ["account.exception_marked", "account.exception_cleared"]


def test_a_managed_account_cannot_be_kept_as_an_exception_or_deprovisioned(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    refused = _except(client, tenant, integration, "alice@example.com", reason="why not")
    assert "refused=not_a_leaver" in refused.headers["Location"]
    refused = _deprovision(client, tenant, integration, "alice@example.com")
    assert "refused=not_a_leaver" in refused.headers["Location"]
    assert _jobs(console_app, tenant) == []


# -- refusals -------------------------------------------------------------------------------


def test_every_dashboard_form_needs_its_csrf_token(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    integration = _leavers(console_app, client, tenant)
    query = f"integration={integration}&account=bob@example.com"
    for path, form in (
        (f"/admin/o/{tenant.slug}/leavers/deprovision?{query}", {"confirm": "yes"}),
        (f"/admin/o/{tenant.slug}/leavers/except?{query}", {"reason": "x"}),
        (f"/admin/o/{tenant.slug}/leavers/except?{query}", {"undo": "yes"}),
    ):
        assert client.post(path, data=form).status_code == 400, path
        assert client.post(path, data={**form, "csrf_token": "wrong"}).status_code == 400
    assert _jobs(console_app, tenant) == []


def test_another_organizations_dashboard_and_accounts_are_404(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    other = new_tenant(console_app)
    theirs = _leavers(console_app, console_app.test_client(), other)
    assert client.get(f"/admin/o/{other.slug}/").status_code == 404
    token = page_token(client, _home(tenant))
    query = f"integration={theirs}&account=bob@example.com"
    for slug in (other.slug, tenant.slug):
        deprovision = f"/admin/o/{slug}/leavers/deprovision?{query}"
        assert client.get(deprovision).status_code == 404
        posted = client.post(deprovision, data={"csrf_token": token, "confirm": "yes"})
        assert posted.status_code == 404
        excepted = client.post(
            f"/admin/o/{slug}/leavers/except?{query}", data={"csrf_token": token, "reason": "x"}
        )
        assert excepted.status_code == 404
    assert _jobs(console_app, tenant) == []
    assert "bob@example.com" not in _text(client.get(_home(tenant)))


# -- the CLI --------------------------------------------------------------------------------


def test_the_cli_lists_deprovisions_and_excepts_through_the_same_rules(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.cli import main

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    integration = _leavers(app, app.test_client(), tenant)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["accounts", *args], catch_exceptions=False)

    listed = run("leavers", tenant.slug, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {(r["account_id"], r["classification"]) for r in rows} == {
        ("bob@example.com", "retired"),
        ("ghost@example.com", "unknown"),
    }
    queued = run("deprovision", tenant.slug, "Wiki", "bob@example.com", "--json")
    assert queued.exit_code == 0, queued.output
    first = json.loads(queued.output)
    assert first["queued"] is True and first["policy"] == "deactivate_remote"
    again = json.loads(run("deprovision", tenant.slug, "Wiki", "bob@example.com", "--json").output)
    assert again == {**first, "queued": False}
    assert len(_jobs(app, tenant)) == 1
    refused = run("deprovision", tenant.slug, "Wiki", "alice@example.com")
    assert refused.exit_code == 1 and "not an active leaver's or orphan's account" in refused.output
    assert run("except", tenant.slug, "Wiki", "ghost@example.com").exit_code == 1  # no reason
    kept = run("except", tenant.slug, "Wiki", "ghost@example.com", "--reason", "break-glass admin")
    assert kept.exit_code == 0 and "is kept as an exception" in kept.output
    rows = json.loads(run("leavers", tenant.slug, "--show", "exceptions", "--json").output)
    assert [(r["account_id"], r["exception"]["reason"], r["exception"]["by"]) for r in rows] == [
        ("ghost@example.com", "break-glass admin", "cli")
    ]
    undone = run("except", tenant.slug, "Wiki", "ghost@example.com", "--undo")
    assert undone.exit_code == 0 and "is back on the list" in undone.output
    assert run("leavers", tenant.slug, "--show", "exceptions", "--json").output.strip() == "[]"
    _run_worker(app)
    assert _calls(FakeService.deactivated, tenant) == [
        AccountRef(remote_id="r2", account_id="bob@example.com")
    ]
    unknown = run("deprovision", tenant.slug, str(integration), "nobody@example.com")
    assert unknown.exit_code == 1 and "no account 'nobody@example.com'" in unknown.output


def test_presses_at_the_same_time_queue_one_job(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """Eight concurrent calls of the function behind the button and the CLI: the jobs
    table's unique idempotency key lets one in, and every call names that job."""
    from concurrent.futures import ThreadPoolExecutor

    from scimcore.provisioning.leavers import deprovision

    integration = _leavers(console_app, client, tenant)
    parts = _parts(console_app)
    sql = parts.need_sql("test")

    def press(_: int) -> Any:
        return deprovision(
            sql.leavers,
            parts.provisioning,
            tenant.id,
            integration,
            "ghost@example.com",
            actor="racer@example.com",
        )

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(press, range(8)))
    (job,) = _jobs(console_app, tenant)
    assert {d.job_id for d in done} == {job["id"]}
    assert sum(d.queued for d in done) == 1


def test_a_csv_linked_account_of_a_leaver_is_on_the_dashboard_at_once(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """An account linked by CSV (never seen by a sync) of a person deactivated in the IdP
    is a leaver's, as the integration page says: the dashboard lists it too."""
    from .admin_support import create_service, create_user, start_import, upload_csv

    scim = console_app.test_client()
    leaver = create_user(scim, tenant, "csv.leaver@example.com")
    create_service(console_app, tenant, "Portal", "manual")
    rows = '"operation","serviceDisplayName","userId","accountId"\n'
    rows += '"CREATE","Portal","csv.leaver@example.com","csv.leaver"\n'
    start_import(
        client, upload_csv(client, tenant, rows.encode(), "service-accounts").get_data(as_text=True)
    )
    before = client.get(f"/admin/o/{tenant.slug}/").get_data(as_text=True)
    assert "csv.leaver" not in before
    scim.patch(
        f"/scim/v2/organizations/{tenant.slug}/Users/{leaver['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    after = client.get(f"/admin/o/{tenant.slug}/").get_data(as_text=True)
    assert "csv.leaver" in after
