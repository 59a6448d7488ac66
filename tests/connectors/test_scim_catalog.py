"""The SCIM catalog (scimcore/adapters/connectors/scim_catalog.py): every entry passes the
contract kit against a fake behaving as that vendor documents, and each documented
deviation is handled (tests/connectors/scim_quirks_fake.py enforces them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from scimcore.adapters.connectors import (
    AccountRef,
    AccountSpec,
    BearerAuth,
    Capability,
    Connector,
    ConnectorContext,
    InvalidData,
    RateLimited,
    UnsupportedOperation,
    available,
    load,
)
from scimcore.adapters.connectors.http import send
from scimcore.adapters.connectors.scim_catalog import (
    CATALOG,
    SLACK,
    connector_class,
    register_profile,
)
from scimcore.adapters.connectors.scim_profiles import Deviation, ScimProfile
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.connector import address_fields, fill_address

from .conftest import Env
from .fakes import scim_server
from .scim_quirks_fake import QuirkyScim

NAMES = [p.name for p in CATALOG]
BY_NAME = {p.name: p for p in CATALOG}
BUILT_IN = {"manual", "webhook", "scim2", "google_workspace", "microsoft_365"}


@pytest.fixture
def vendor(request: pytest.FixtureRequest) -> Iterator[QuirkyScim]:
    """The fake as the vendor named by the test's ``name`` parameter."""
    with scim_server(QuirkyScim(profile=BY_NAME[request.param])) as fake:
        yield fake


def _ctx(fake: QuirkyScim, **settings: Any) -> ConnectorContext:
    return ConnectorContext(
        "org", 1, {"base_url": fake.url, **settings}, BearerAuth(fake.token), timeout=2
    )


def _spec(**kwargs: Any) -> AccountSpec:
    login = f"cat-{uuid.uuid4().hex[:10]}@example.com"
    values: dict[str, Any] = {
        "account_id": login,
        "email": login,
        "given_name": "Cat",
        "family_name": "Alog",
        "external_id": uuid.uuid4().hex,
    }
    values.update(kwargs)
    return AccountSpec(**values)


def _methods(fake: QuirkyScim) -> list[str]:
    return [m for m, _ in fake.requests]


# -- every entry passes the contract kit against the fake configured as that vendor ---------


class TestEveryCatalogEntryMeetsTheConnectorContract(ConnectorContract):
    @pytest.fixture(params=NAMES)
    def name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def connector(self, name: str) -> Connector:
        return load(name)

    @pytest.fixture
    def context(self, name: str) -> Iterator[ConnectorContext]:
        with scim_server(QuirkyScim(profile=BY_NAME[name])) as fake:
            yield _ctx(fake)
            assert fake.refused == [], f"{name}: the connector sent what the vendor refuses"


# -- the declarations themselves ------------------------------------------------------------


@pytest.mark.parametrize("profile", CATALOG, ids=NAMES)
def test_every_entry_has_https_sources_a_valid_template_and_a_known_credential(
    profile: ScimProfile,
) -> None:
    assert profile.source.startswith("https://")
    assert profile.deviations, "an entry exists because the service differs somewhere"
    for deviation in profile.deviations:
        assert deviation.source.startswith("https://"), deviation
        assert deviation.key.isidentifier() and deviation.summary
    template = profile.address_template
    assert template is not None and template.startswith("https://")
    filled = fill_address(template, {f: "acme" for f in address_fields(template)})
    assert urlsplit(filled).hostname and "{" not in filled
    assert profile.credential in ("bearer_token", "oauth2_authorization_code")
    if profile.credential == "oauth2_authorization_code":
        assert profile.oauth is not None and profile.oauth.scopes
        # An endpoint may only name a setting the administrator already gives.
        assert set(profile.oauth.settings) <= set(profile.template_fields)
    else:
        assert profile.oauth is None
    connector = load(profile.name)
    assert connector.account_id_attribute == profile.login_attribute
    assert getattr(connector, "address_setting", None) == "base_url"


def test_catalog_names_are_unique_and_listed_beside_the_built_in_connectors() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert not set(NAMES) & BUILT_IN
    known = available()
    assert set(NAMES) | BUILT_IN <= set(known)
    assert known["slack"] == "scimcore.adapters.connectors.scim_catalog:catalog[slack]"


def test_only_a_service_that_removes_the_account_declares_delete() -> None:
    for profile in CATALOG:
        caps = load(profile.name).capabilities
        assert (Capability.DELETE in caps) == (profile.delete == "hard"), profile.name
        reversible = profile.deactivate == "active_false"
        assert (Capability.REACTIVATE in caps) == reversible, profile.name
        assert Capability.DISCOVER | Capability.CREATE | Capability.DEACTIVATE in caps


def test_a_new_declaration_is_a_connector_without_code(fake_scim: Any) -> None:
    acme = ScimProfile(
        name=f"acme_{uuid.uuid4().hex[:6]}",
        display_name="Acme HR",
        source="https://acme.example/docs/scim",
        address_template="https://{subdomain}.acme.example/scim/v2",
        credential="bearer_token",
        filter_attributes=frozenset({"userName"}),
        deviations=(Deviation("filter_support", "userName only", "https://acme.example/d"),),
    )
    register_profile(acme)
    assert acme.name in available()
    connector = load(acme.name)
    assert connector.display_name == "Acme HR"
    assert getattr(connector, "address_template", None) == acme.address_template
    ctx = ConnectorContext("org", 1, {"base_url": fake_scim.url}, BearerAuth(fake_scim.token))
    created = connector.create_account(ctx, _spec(), idempotency_key="k")
    assert connector.find_account(ctx, email=created.login) is not None


# -- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", NAMES, indirect=True)
def test_filter_support_no_filter_the_vendor_refuses_is_ever_sent(vendor: QuirkyScim) -> None:
    connector = load(vendor.profile.name)
    ctx = _ctx(vendor)
    spec = _spec()
    created = connector.create_account(ctx, spec, idempotency_key="k")
    for kwargs in (
        {"account_id": spec.account_id},
        {"email": spec.email},
        {"external_id": spec.external_id},
    ):
        found = connector.find_account(ctx, **kwargs)
        assert found is not None and found.remote_id == created.remote_id, kwargs
    assert vendor.refused == []


@pytest.mark.parametrize(
    "vendor", [p.name for p in CATALOG if p.filter_attributes is not None], indirect=True
)
def test_filter_support_the_fake_refuses_other_filters_as_invalid_filter(
    vendor: QuirkyScim,
) -> None:
    resp = send(
        "GET",
        f"{vendor.url}/Users?filter=emails.value%20eq%20%22a%40example.com%22",
        auth=BearerAuth(vendor.token),
        timeout=2,
        max_bytes=10_000,
    )
    assert resp.status == 400 and json.loads(resp.body)["scimType"] == "invalidFilter"


@pytest.mark.parametrize("vendor", ["zoom"], indirect=True)
def test_login_is_email_an_email_search_is_a_user_name_search(vendor: QuirkyScim) -> None:
    connector = load("zoom")
    created = connector.create_account(_ctx(vendor), _spec(), idempotency_key="k")
    vendor.requests.clear()
    assert connector.find_account(_ctx(vendor), email=created.login.upper()) is not None
    (listing,) = [p for m, p in vendor.requests if m == "GET"]
    assert "filter=userName" in listing  # one filtered request, no scan of the listing


# -- paging -----------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", [p.name for p in CATALOG if p.max_page_size], indirect=True)
def test_max_page_size_no_page_asks_more_than_the_vendor_serves(vendor: QuirkyScim) -> None:
    for n in range(3):
        vendor.add(f"page{n}@example.com")
    listed = list(load(vendor.profile.name).iter_accounts(_ctx(vendor), page_size=50_000))
    assert len(listed) == 3
    assert vendor.counts and max(vendor.counts) == vendor.profile.max_page_size


def test_max_page_size_a_capped_page_is_followed_by_the_next_one() -> None:
    capped = replace(SLACK, name=f"capped_{uuid.uuid4().hex[:6]}", max_page_size=2)
    with scim_server(QuirkyScim(profile=capped)) as fake:
        ids = {fake.add(f"cap{n}@example.com") for n in range(5)}
        listed = connector_class(capped)().iter_accounts(_ctx(fake), page_size=100)
        assert {a.remote_id for a in listed} == ids
        assert fake.counts == [2, 2, 2]


# -- PATCH forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "none"])
def test_patch_form_only_the_form_the_vendor_accepts_is_sent(form: str) -> None:
    profile = ScimProfile(name=f"patch_{form}", patch=form)  # type: ignore[arg-type]
    with scim_server(QuirkyScim(profile=profile)) as fake:
        uid = fake.add("patchy@example.com")
        done = connector_class(profile)().deactivate_account(
            _ctx(fake), AccountRef(remote_id=uid), idempotency_key="k"
        )
        assert done is not None and not done.active and fake.users[uid]["active"] is False
        assert fake.refused == []
        assert ("PATCH" in _methods(fake)) == (form == "path")
        # The RFC form is what such a vendor refuses (the connector then falls back to
        # a PUT): the fake enforces the declared form, so the check above can fail.
        rfc = connector_class(replace(profile, patch="rfc"))()
        again = rfc.reactivate_account(_ctx(fake), AccountRef(remote_id=uid), idempotency_key="r")
        assert again is not None and again.active
        assert len(fake.refused) == 1 and fake.refused[0].startswith("PATCH")


# -- required attributes and lengths ------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["github_enterprise"], indirect=True)
def test_required_attributes_missing_ones_are_refused_before_anything_is_sent(
    vendor: QuirkyScim,
) -> None:
    connector = load("github_enterprise")
    with pytest.raises(InvalidData) as info:
        connector.create_account(_ctx(vendor), _spec(family_name=None), idempotency_key="k")
    assert info.value.field == "name.familyName"
    assert "POST" not in _methods(vendor)
    # The fake refuses such a user, as GitHub does.
    resp = send(
        "POST",
        f"{vendor.url}/Users",
        auth=BearerAuth(vendor.token),
        timeout=2,
        max_bytes=10_000,
        json_body={"userName": "x@example.com", "emails": [{"value": "x@example.com"}]},
    )
    assert resp.status == 400 and json.loads(resp.body)["scimType"] == "invalidValue"


@pytest.mark.parametrize(
    "vendor", [p.name for p in CATALOG if "emails" in p.required_attributes], indirect=True
)
def test_required_attributes_emails_come_from_an_email_shaped_login(vendor: QuirkyScim) -> None:
    connector = load(vendor.profile.name)
    created = connector.create_account(_ctx(vendor), _spec(email=None), idempotency_key="k")
    assert created.email == created.login
    assert vendor.refused == []


_TOO_LONG = {
    "displayName": lambda n: {"display_name": "x" * (n + 1)},
    "userName": lambda n: {"account_id": "x" * n + "@example.com"},
    "externalId": lambda n: {"external_id": "x" * (n + 1)},
}


@pytest.mark.parametrize(
    ("vendor", "attribute"),
    [(p.name, a) for p in CATALOG for a in p.max_lengths],
    indirect=["vendor"],
)
def test_max_lengths_a_too_long_value_is_refused_before_sending(
    vendor: QuirkyScim, attribute: str
) -> None:
    longest = vendor.profile.max_lengths[attribute]
    spec = _spec(**_TOO_LONG[attribute](longest))
    with pytest.raises(InvalidData, match=f"at most {longest} characters in {attribute}"):
        load(vendor.profile.name).create_account(_ctx(vendor), spec, idempotency_key="k")
    assert "POST" not in _methods(vendor)
    # The fake refuses it too, as the vendor does: the check above is what spares it.
    body = {"userName": spec.account_id, "name": {"givenName": "A", "familyName": "B"}}
    body |= {"emails": [{"value": "a@example.com"}], "displayName": spec.display_name or "A"}
    body |= {"externalId": spec.external_id}
    resp = send(
        "POST",
        f"{vendor.url}/Users",
        auth=BearerAuth(vendor.token),
        timeout=2,
        max_bytes=10_000,
        json_body=body,
    )
    assert resp.status == 400


# -- deactivation and deletion ------------------------------------------------------------------


@pytest.mark.parametrize("vendor", [p.name for p in CATALOG if p.delete == "soft"], indirect=True)
def test_delete_is_soft_the_account_stays_deactivated(vendor: QuirkyScim) -> None:
    connector = load(vendor.profile.name)
    created = connector.create_account(_ctx(vendor), _spec(), idempotency_key="k")
    ref = AccountRef(remote_id=created.remote_id)
    connector.delete_account(_ctx(vendor), ref, idempotency_key="d")
    assert vendor.users[created.remote_id]["active"] is False
    got = connector.get_account(_ctx(vendor), ref)
    assert got is not None and not got.active
    assert Capability.DELETE not in connector.capabilities


@pytest.mark.parametrize("vendor", ["salesforce"], indirect=True)
def test_no_delete_salesforce_users_are_only_deactivated(vendor: QuirkyScim) -> None:
    connector = load("salesforce")
    created = connector.create_account(_ctx(vendor), _spec(), idempotency_key="k")
    ref = AccountRef(remote_id=created.remote_id)
    with pytest.raises(UnsupportedOperation):
        connector.delete_account(_ctx(vendor), ref, idempotency_key="d")
    assert "DELETE" not in _methods(vendor)
    done = connector.deactivate_account(_ctx(vendor), ref, idempotency_key="x")
    assert done is not None and not done.active


@pytest.mark.parametrize("vendor", ["github_organization"], indirect=True)
def test_deactivate_is_delete_the_identity_is_gone_and_cannot_be_reactivated(
    vendor: QuirkyScim,
) -> None:
    connector = load("github_organization")
    created = connector.create_account(_ctx(vendor), _spec(), idempotency_key="k")
    ref = AccountRef(remote_id=created.remote_id)
    assert connector.deactivate_account(_ctx(vendor), ref, idempotency_key="x") is None
    assert created.remote_id not in vendor.users
    with pytest.raises(UnsupportedOperation):
        connector.reactivate_account(_ctx(vendor), ref, idempotency_key="r")


@pytest.mark.parametrize("vendor", ["atlassian"], indirect=True)
def test_inactive_not_listed_a_deactivated_user_is_still_read_by_id(vendor: QuirkyScim) -> None:
    connector = load("atlassian")
    created = connector.create_account(_ctx(vendor), _spec(), idempotency_key="k")
    ref = AccountRef(remote_id=created.remote_id, account_id=created.login)
    connector.deactivate_account(_ctx(vendor), ref, idempotency_key="x")
    assert created.remote_id not in {a.remote_id for a in connector.iter_accounts(_ctx(vendor))}
    again = connector.reactivate_account(_ctx(vendor), ref, idempotency_key="r")
    assert again is not None and again.active


# -- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", [p.name for p in CATALOG if p.pacing], indirect=True)
def test_rate_limit_a_request_too_soon_is_rate_limited_with_retry_after(
    vendor: QuirkyScim,
) -> None:
    vendor.enforce_pacing = True
    connector = load(vendor.profile.name)
    assert connector.test_connection(_ctx(vendor)).ok
    with pytest.raises(RateLimited) as info:
        list(connector.iter_accounts(_ctx(vendor)))
    assert info.value.retry_after is not None and info.value.retry_after >= 1


def test_cli_lists_the_catalog_and_connects_with_the_address_part_and_documented_pace(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from scimcore.storage.sql.provisioning import SqlProvisioningStore
    from scimserver.cli import main

    from ..server.admin_support import make_app, new_tenant

    runner = CliRunner()
    listed = runner.invoke(main, ["connectors", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert "delete" not in rows["slack"]["capabilities"]
    assert "discover" in rows["slack"]["capabilities"]
    assert rows["atlassian"]["address_template"] == BY_NAME["atlassian"].address_template
    assert rows["zoom"]["oauth_preset"] is True

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    app = make_app(database_url)
    tenant = new_tenant(app)
    made = runner.invoke(main, ["services", "create", tenant.slug, "Git", "--kind", "manual"])
    assert made.exit_code == 0, made.output
    connect = ["services", "connect", tenant.slug, "Git", "--json", "--connector"]
    done = runner.invoke(main, [*connect, "github_enterprise", "--setting", "enterprise=acme"])
    assert done.exit_code == 0, done.output
    saved = json.loads(done.output)
    assert saved["settings"]["base_url"] == "https://api.github.com/scim/v2/enterprises/acme"
    prov = SqlProvisioningStore(app.extensions["scimcore"]["store"].engine)
    binding = prov.binding(tenant.id, saved["integration_id"])
    assert binding is not None and (binding.min_interval_ms, binding.max_concurrency) == (0, 4)
    # Zoom documents one request a second: that is the default pace of its integration.
    zoom = runner.invoke(main, [*connect, "zoom"])
    assert zoom.exit_code == 0, zoom.output
    binding = prov.binding(tenant.id, saved["integration_id"])
    assert binding is not None and (binding.min_interval_ms, binding.max_concurrency) == (1000, 1)
    assert binding.connector == "zoom"
    chosen = runner.invoke(main, [*connect, "zoom", "--min-interval-ms", "1500"])
    assert chosen.exit_code == 0, chosen.output
    binding = prov.binding(tenant.id, saved["integration_id"])
    assert binding is not None and binding.min_interval_ms == 1500


# -- an integration, end to end ----------------------------------------------------------------


def test_okta_user_reaches_github_enterprise_through_the_worker_and_is_suspended(
    any_env: Env,
) -> None:
    with scim_server(QuirkyScim(profile=BY_NAME["github_enterprise"])) as fake:
        integration = any_env.integration(
            "github_enterprise", {"base_url": fake.url}, auth=BearerAuth(fake.token)
        )
        login = f"okta.{uuid.uuid4().hex[:6]}@example.com"
        uid = any_env.create_user(login, name={"givenName": "Okta", "familyName": "User"})
        assert any_env.worker().run(until_idle=True, max_seconds=60).succeeded >= 1
        remote = fake.by_name(login)
        assert remote is not None and remote["active"] is True
        assert remote["name"] == {"givenName": "Okta", "familyName": "User"}
        assert remote["externalId"] == uid
        link = any_env.prov.link(any_env.org.id, integration, uid)
        assert link is not None and link.remote_id == remote["id"]
        any_env.set_active(uid, False)
        any_env.worker().run(until_idle=True, max_seconds=60)
        assert fake.users[remote["id"]]["active"] is False
        assert fake.refused == []


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_token_parks_the_integration_and_the_jobs_run_once_after_reauth(
    env: Env, name: str
) -> None:
    """The connectors issue's fault list, per catalog entry: a refused credential parks
    the integration after one request (no retry storm, nothing lost); once a working
    credential is stored, every waiting job runs once."""
    with scim_server(QuirkyScim(profile=BY_NAME[name])) as fake:
        integration = env.integration(name, {"base_url": fake.url}, auth=BearerAuth("wrong"))
        for n in range(3):
            env.create_user(f"refused{n}@example.com")
        env.worker().run(until_idle=True)
        assert len(fake.requests) == 1
        env.make_due()
        env.worker().run(until_idle=True)
        assert len(fake.requests) == 1
        binding = env.prov.binding(env.org.id, integration)
        assert binding is not None and binding.integration.status == "needs_reauth"
        assert "wrong" not in (binding.last_error or "")
        env.auth[integration] = BearerAuth(fake.token)
        env.prov.set_integration_status(env.org.id, integration, "active")
        env.worker().run(until_idle=True)
        assert [j.status for j in env.jobs()] == ["succeeded"] * 3
        created = [m for m, p in fake.requests if m == "POST"]
        assert len(created) == 3 and fake.refused == []
