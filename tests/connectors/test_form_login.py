"""form_login against a real admin web application on 127.0.0.1 (tests/connectors/form_site.py):
the contract kit, each way a sign-in is refused (named, one password POST, never
retried), secrets kept out of logs and errors, recipe validation, paging, sessions,
the worker end to end on both databases, the CLI, and the faults that apply.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scimcore.accounts import KeyRing
from scimcore.adapters.connectors import Connector, ConnectorContext, load
from scimcore.adapters.connectors.auth import BasicAuth
from scimcore.adapters.connectors.credentials import (
    BearerToken,
    CredentialVault,
    IdPassword,
    MemoryCredentialStore,
)
from scimcore.adapters.connectors.form_login import (
    FormLoginAuth,
    FormLoginConnector,
    RecipeError,
    load_recipe,
    sign_in_blocker,
)
from scimcore.adapters.connectors.form_login import session as form_session
from scimcore.adapters.connectors.form_login.html import ValueSpec, form_fields, parse
from scimcore.adapters.connectors.testing import ConnectorContract
from scimcore.provisioning.connector import AccountRef, AccountSpec
from scimcore.provisioning.errors import (
    AuthenticationFailed,
    InvalidResponse,
    PermanentError,
    UnsupportedOperation,
)
from scimcore.provisioning.pacing import PacedAuth

from .conftest import Env
from .form_site import (
    ADMIN,
    BETA_RECIPE,
    PASSWORD,
    RECIPE,
    SEED,
    BetaSite,
    FormSite,
    beta_site,
    form_site,
    site_totp,
)

WRONG_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    """Each test signs in afresh: no session or remembered refusal from another test."""
    form_session.forget_all()
    yield
    form_session.forget_all()


@pytest.fixture
def site() -> Iterator[FormSite]:
    with form_site(FormSite()) as s:
        yield s


def _ctx(
    site: FormSite,
    auth: Any = None,
    recipe: dict[str, Any] | None = None,
    integration: int = 1,
) -> ConnectorContext:
    return ConnectorContext(
        "org",
        integration,
        {"base_url": site.url, "recipe": recipe if recipe is not None else RECIPE},
        auth if auth is not None else FormLoginAuth(ADMIN, PASSWORD, SEED),
        timeout=5.0,
    )


def _recipe(**changes: Any) -> dict[str, Any]:
    """RECIPE with ``changes`` applied by dotted path (``login.form="form.x"``); None deletes."""
    recipe = copy.deepcopy(RECIPE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = recipe
        for key in parents:
            target = target[key]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return recipe


class TestFormLoginOnTheTestSite(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("form_login")

    @pytest.fixture
    def context(self, site: FormSite) -> ConnectorContext:
        return _ctx(site)


# -- sign-in --------------------------------------------------------------------------------


def test_signs_in_with_the_csrf_token_and_the_code_then_reuses_the_session(
    site: FormSite,
) -> None:
    for n in range(4):
        site.add(f"user{n}@acme.test")
    connector = FormLoginConnector()
    assert connector.test_connection(_ctx(site)).ok
    login_post = next(f for m, p, f in site.requests if m == "POST" and p == "/session")
    assert login_post["authenticity_token"]  # the hidden CSRF input, carried
    assert login_post["user[email]"] == ADMIN and login_post["commit"] == "Sign in"
    for _ in range(3):
        assert len(list(connector.iter_accounts(_ctx(site)))) == 4
    assert site.password_posts == 1 and site.code_posts == 1


def test_a_service_without_a_code_step_signs_in_with_the_password_alone() -> None:
    with form_site(FormSite(totp_required=False)) as site:
        check = FormLoginConnector().test_connection(_ctx(site, FormLoginAuth(ADMIN, PASSWORD)))
        assert check.ok, check.message
        assert site.password_posts == 1 and site.code_posts == 0


def test_an_identifier_first_sign_in_gives_the_username_then_the_password() -> None:
    with form_site(FormSite(identifier_first=True)) as site:
        check = FormLoginConnector().test_connection(_ctx(site))
        assert check.ok, check.message
        identify = [f for m, p, f in site.requests if m == "POST" and p == "/session/identify"]
        assert len(identify) == 1 and "user[password]" not in identify[0]
        assert identify[0]["user[email]"] == ADMIN
        assert site.password_posts == 1


def test_an_expired_session_signs_in_once_more_and_carries_on(
    site: FormSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add("kept@acme.test")
    connector = FormLoginConnector()
    assert [a.login for a in connector.iter_accounts(_ctx(site))] == ["kept@acme.test"]
    site.expire_sessions()
    # The sign-in's code must be the next time step's (a code works once): no waiting here.
    waits: list[float] = []
    clock = form_session.clock
    monkeypatch.setattr(form_session, "clock", lambda: clock() + 30)
    monkeypatch.setattr(form_session, "sleep", waits.append)
    assert [a.login for a in connector.iter_accounts(_ctx(site))] == ["kept@acme.test"]
    assert site.password_posts == 2 and site.code_posts == 2 and waits == []


def test_a_second_sign_in_in_the_same_time_step_waits_for_a_fresh_code(
    site: FormSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(form_session, "clock", lambda: now[0])
    monkeypatch.setattr(form_session, "sleep", wait)
    first_code = site_totp(SEED, now[0])
    assert FormLoginConnector().test_connection(_ctx(site)).ok
    site.expire_sessions()
    assert FormLoginConnector().test_connection(_ctx(site)).ok
    assert len(waits) == 1 and 0 < waits[0] <= 31
    codes = [
        f["otp_attempt"] for m, p, f in site.requests if p == "/session/two-factor" and m == "POST"
    ]
    assert codes[0] == first_code and codes[1] != first_code


def _refused(site: FormSite, auth: FormLoginAuth, recipe: dict[str, Any] | None = None) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        list(FormLoginConnector().iter_accounts(_ctx(site, auth, recipe)))
    return info.value.message


def test_a_wrong_password_says_so_after_one_attempt_and_is_never_retried(
    site: FormSite,
) -> None:
    auth = FormLoginAuth(ADMIN, "wrong password", SEED)
    message = _refused(site, auth)
    assert "wrong username or password" in message and "sent once" in message
    assert site.password_posts == 1
    again = _refused(site, auth)
    assert "remembered" in again
    assert FormLoginConnector().test_connection(_ctx(site, auth)).ok is False
    assert site.password_posts == 1 and not site.locked
    # A new credential is tried at once.
    assert FormLoginConnector().test_connection(_ctx(site)).ok
    assert site.password_posts == 2


def test_a_wrong_code_says_so_after_one_password_and_one_code(site: FormSite) -> None:
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, WRONG_SEED))
    assert "one-time code (TOTP) was not accepted" in message
    assert site.password_posts == 1 and site.code_posts == 1


def test_a_code_step_without_a_stored_seed_says_to_store_one(site: FormSite) -> None:
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD))
    assert "no TOTP seed" in message and "--totp" in message
    assert site.password_posts == 1 and site.code_posts == 0


def test_a_code_step_the_recipe_does_not_declare_is_recognised_and_answered(
    site: FormSite,
) -> None:
    check = FormLoginConnector().test_connection(_ctx(site, recipe=_recipe(totp=None)))
    assert check.ok, check.message
    assert site.password_posts == 1 and site.code_posts == 1


def test_a_refusal_the_recipe_does_not_recognise_is_caught_and_not_retried(
    site: FormSite,
) -> None:
    original = site.handle

    def vague(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
        status, headers, page = original(method, target, body, cookies)
        if target == "/session" and status == 200:  # a refusal, but no form and no flash
            return 200, headers, "<html><body><p>Something went wrong.</p></body></html>"
        return status, headers, page

    site.handle = vague  # type: ignore[method-assign]
    recipe = _recipe(login__success=None, login__failures=[])
    auth = FormLoginAuth(ADMIN, "not the password", SEED)
    message = _refused(site, auth, recipe)
    assert "shows the sign-in page again" in message
    assert "remembered" in _refused(site, auth, recipe)
    assert site.password_posts == 1


def test_a_locked_account_says_locked_and_costs_one_attempt(site: FormSite) -> None:
    site.failures = site.max_failures
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED))
    assert "the administrator account is locked" in message
    assert site.password_posts == 1


def test_a_lockout_the_recipe_does_not_name_is_still_called_a_lockout(site: FormSite) -> None:
    site.failures = site.max_failures
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED), _recipe(login__failures=[]))
    assert "the administrator account is locked" in message and "no recipe marker" in message
    assert site.password_posts == 1


def test_a_captcha_on_the_login_page_stops_before_the_password_is_sent() -> None:
    with form_site(FormSite(captcha=True)) as site:
        message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED))
        assert "CAPTCHA" in message and "the password was not sent" in message
        assert site.password_posts == 0


def test_a_captcha_demanded_after_the_password_is_named_by_the_recipe() -> None:
    with form_site(FormSite(captcha_on_submit=True)) as site:
        message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED))
        assert "CAPTCHA" in message and "sent once" in message
        assert site.password_posts == 1


def test_the_worker_never_locks_the_account_with_a_wrong_password(env: Env) -> None:
    with form_site(FormSite()) as site:
        integration = env.integration(
            "form_login",
            {"base_url": site.url, "recipe": RECIPE},
            auth=FormLoginAuth(ADMIN, "Tr0ub4dor&3-not-it", SEED),
        )
        for n in range(site.max_failures + 2):
            env.create_user(f"locked{n}@acme.test")
        for _ in range(3):
            env.worker().run(until_idle=True)
            env.make_due()
        assert site.password_posts == 1 and not site.locked
        binding = env.prov.binding(env.org.id, integration)
        assert binding is not None and binding.integration.status == "needs_reauth"
        assert "wrong username or password" in (binding.last_error or "")
        assert "Tr0ub4dor" not in (binding.last_error or "")
        # Re-authorized with the right password: the same jobs run, once each.
        env.auth[integration] = FormLoginAuth(ADMIN, PASSWORD, SEED)
        env.prov.set_integration_status(env.org.id, integration, "active")
        env.worker().run(until_idle=True)
        assert {j.status for j in env.jobs()} == {"succeeded"}
        assert len(site.members) == site.max_failures + 2
        assert site.password_posts == 2


def test_secrets_stay_out_of_logs_errors_and_reprs(
    site: FormSite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site.add("someone@acme.test")
    good = FormLoginAuth(ADMIN, PASSWORD, SEED)
    errors = []
    for auth in (
        FormLoginAuth(ADMIN, PASSWORD + "x", SEED),
        FormLoginAuth(ADMIN, PASSWORD, WRONG_SEED),
    ):
        form_session.forget_all()
        with pytest.raises(AuthenticationFailed) as info:
            list(FormLoginConnector().iter_accounts(_ctx(site, auth)))
        errors.append(info.value)
    accounts = list(FormLoginConnector().iter_accounts(_ctx(site, good)))
    code = site_totp(SEED, time.time())
    shown = " ".join(
        [caplog.text, repr(good), repr(_ctx(site, good)), repr(PacedAuth(good, lambda: None))]
        + [str(e) + repr(e) + repr(e.args) for e in errors]
        + [repr(a) + json.dumps(dict(a.raw)) for a in accounts]
        + [repr(form_session._sessions)]
    )
    for secret in (PASSWORD, SEED, SEED.lower(), WRONG_SEED, code):
        assert secret not in shown
    assert "<secret>" in repr(good)


def test_the_auth_adds_nothing_to_requests_and_is_found_through_pacing() -> None:
    from scimcore.adapters.connectors.form_login.credential import find_login
    from scimcore.provisioning.connector import HttpRequest

    auth = FormLoginAuth(ADMIN, PASSWORD, SEED)
    request = HttpRequest("GET", "https://x.example/", {})
    auth.apply(request)
    assert request.headers == {}
    assert find_login(PacedAuth(auth, lambda: None)) is auth
    with pytest.raises(AuthenticationFailed, match="id_password"):
        find_login(BasicAuth(ADMIN, PASSWORD))


def test_auth_from_takes_an_id_password_and_refuses_other_kinds() -> None:
    connector = FormLoginConnector()
    made = connector.auth_from(IdPassword(ADMIN, PASSWORD, SEED))
    assert isinstance(made, FormLoginAuth) and made.has_totp and made.username == ADMIN
    with pytest.raises(AuthenticationFailed, match="not a bearer credential") as info:
        connector.auth_from(BearerToken("some-token"))
    assert "some-token" not in info.value.message


def test_the_vault_hands_the_connector_its_own_authenticator() -> None:
    from scimcore.adapters.connectors.credential_source import VaultCredentials

    store = MemoryCredentialStore()
    store.add_integration(7, "org")
    vault = CredentialVault(store, KeyRing([KeyRing.generate_key()]))
    vault.put(7, IdPassword(ADMIN, PASSWORD, SEED))

    class _Binding:
        class integration:  # the shape VaultCredentials reads
            id = 7

    auth = VaultCredentials(vault).auth_for(_Binding(), FormLoginConnector())  # type: ignore[arg-type]
    assert isinstance(auth, FormLoginAuth) and auth.password() == PASSWORD


# -- what cannot work -------------------------------------------------------------------------


def test_an_sso_only_recipe_is_explained_and_nothing_is_requested(site: FormSite) -> None:
    recipe = {"name": "bigco", "sign_in": "sso_only", "note": "Okta enforces SAML for everyone"}
    settings = {"base_url": site.url, "recipe": recipe}
    why = sign_in_blocker(settings)
    assert why is not None and "single sign-on" in why and "Okta enforces SAML" in why
    assert FormLoginConnector().sign_in_blocker(settings) == why
    with pytest.raises(AuthenticationFailed, match="single sign-on"):
        list(FormLoginConnector().iter_accounts(_ctx(site, recipe=recipe)))
    check = FormLoginConnector().test_connection(_ctx(site, recipe=recipe))
    assert not check.ok and "single sign-on" in check.message
    assert site.requests == []
    assert sign_in_blocker({"base_url": site.url, "recipe": RECIPE}) is None
    assert "needs a 'recipe' setting" in (sign_in_blocker({"base_url": site.url}) or "")


def test_a_stored_recipe_that_does_not_validate_parks_instead_of_failing_jobs(
    site: FormSite,
) -> None:
    with pytest.raises(AuthenticationFailed, match=r"settings cannot be used: recipe\.members"):
        list(FormLoginConnector().iter_accounts(_ctx(site, recipe=_recipe(members__row=""))))
    assert site.requests == []


def test_a_recipe_that_needs_javascript_is_refused_with_the_reason(site: FormSite) -> None:
    recipe = {"name": "spa", "javascript": True}
    with pytest.raises(AuthenticationFailed, match="need JavaScript"):
        list(FormLoginConnector().iter_accounts(_ctx(site, recipe=recipe)))
    assert site.requests == []


def test_a_login_page_built_by_javascript_is_recognised(site: FormSite) -> None:
    recipe = _recipe(login__path="/app/login")
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED), recipe)
    assert "no sign-in form on /app/login" in message and "JavaScript" in message
    assert "the password was not sent" in message
    assert site.password_posts == 0


def test_a_sign_in_sent_to_another_site_is_refused_before_any_request(site: FormSite) -> None:
    original = site.handle

    def to_idp(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
        if target == "/login":
            return 302, [("Location", "https://idp.example.com/authorize?client=acme")], ""
        return original(method, target, body, cookies)

    site.handle = to_idp  # type: ignore[method-assign]
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED))
    assert "https://idp.example.com:443" in message and "identity provider" in message
    assert site.password_posts == 0


def test_a_form_that_would_post_the_password_elsewhere_is_refused(site: FormSite) -> None:
    original = site.handle

    def elsewhere(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
        status, headers, page = original(method, target, body, cookies)
        return status, headers, page.replace('action="/session"', 'action="https://evil.test/s"')

    site.handle = elsewhere  # type: ignore[method-assign]
    message = _refused(site, FormLoginAuth(ADMIN, PASSWORD, SEED))
    assert "another site" in message and site.password_posts == 0


def test_a_login_form_sent_with_get_is_refused(site: FormSite) -> None:
    original = site.handle

    def by_get(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
        status, headers, page = original(method, target, body, cookies)
        return status, headers, page.replace('method="post" accept', 'method="get" accept')

    site.handle = by_get  # type: ignore[method-assign]
    with pytest.raises(AuthenticationFailed, match="password would travel in the URL"):
        list(FormLoginConnector().iter_accounts(_ctx(site)))
    assert not any(PASSWORD.split()[0] in p for _, p, _ in site.requests)


def test_a_differently_built_service_works_from_its_recipe_alone() -> None:
    """Multipart login, CSRF token from a <meta> sent as a header, a Secure cookie, a
    meta refresh after sign-in, a list whose state is a class, a confirmed removal."""
    with beta_site(BetaSite()) as beta:
        beta.people = {"7": ("ann@beta.test", True), "8": ("bob@beta.test", False)}
        ctx = ConnectorContext(
            "org",
            2,
            {"base_url": beta.url, "recipe": BETA_RECIPE},
            FormLoginAuth(ADMIN, PASSWORD),
        )
        connector = FormLoginConnector()
        check = connector.test_connection(ctx)
        assert check.ok, check.message
        accounts = {a.login: a for a in connector.iter_accounts(ctx)}
        assert set(accounts) == {"ann@beta.test", "bob@beta.test"}
        assert accounts["ann@beta.test"].active and not accounts["bob@beta.test"].active
        assert accounts["bob@beta.test"].remote_id == "8"
        connector.delete_account(ctx, AccountRef(remote_id="7"), idempotency_key="k")
        assert set(beta.people) == {"8"}
        assert ("POST", "/people/7/destroy") in beta.requests
        assert sum(1 for r in beta.requests if r == ("POST", "/signin")) == 1
        with pytest.raises(UnsupportedOperation, match="'disable'"):
            connector.deactivate_account(ctx, AccountRef(remote_id="8"), idempotency_key="k")
        form_session.forget_all()
        wrong = ConnectorContext("org", 2, ctx.settings, FormLoginAuth(ADMIN, "nope-" + PASSWORD))
        with pytest.raises(AuthenticationFailed, match="wrong username or password"):
            list(connector.iter_accounts(wrong))


# -- members ---------------------------------------------------------------------------------


def test_discovery_reads_every_page_of_the_member_table(site: FormSite) -> None:
    for n in range(10):
        site.add(f"member{n:02d}@acme.test", f"Member {n}", "Disabled" if n % 4 == 0 else "Active")
    accounts = list(FormLoginConnector().iter_accounts(_ctx(site)))
    assert [a.login for a in accounts] == [f"member{n:02d}@acme.test" for n in range(10)]
    assert [a.status for a in accounts][:5] == [
        "suspended",
        "active",
        "active",
        "active",
        "suspended",
    ]
    assert accounts[1].display_name == "Member 1" and accounts[1].remote_id.isdigit()
    pages = [p for m, p, _ in site.requests if m == "GET" and p == "/admin/members"]
    assert len(pages) == 4  # 3 + 3 + 3 + 1 rows


def test_paging_stops_at_max_pages_with_a_clear_error(site: FormSite) -> None:
    for n in range(10):
        site.add(f"p{n}@acme.test")
    with pytest.raises(InvalidResponse, match="more than 2 pages"):
        list(FormLoginConnector().iter_accounts(_ctx(site, recipe=_recipe(members__max_pages=2))))


def test_a_next_link_back_to_a_page_already_read_ends_the_listing(site: FormSite) -> None:
    site.add("only@acme.test")
    recipe = _recipe(members__next="nav a#sign-out@href")
    original = site.handle

    def self_link(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
        status, headers, page = original(method, target, body, cookies)
        return status, headers, page.replace('href="/logout"', 'href="/admin/members"')

    site.handle = self_link  # type: ignore[method-assign]
    assert len(list(FormLoginConnector().iter_accounts(_ctx(site, recipe=recipe)))) == 1
    assert sum(1 for m, p, _ in site.requests if p == "/admin/members") == 1


def test_an_action_the_recipe_does_not_declare_is_unsupported(site: FormSite) -> None:
    member = site.add("stays@acme.test")
    recipe = _recipe(actions__remove=None)
    with pytest.raises(UnsupportedOperation, match="'remove'"):
        FormLoginConnector().delete_account(
            _ctx(site, recipe=recipe), AccountRef(remote_id=str(member.id)), idempotency_key="k"
        )
    assert site.by_email("stays@acme.test") is not None


def test_an_invitation_the_service_refuses_reports_its_flash(site: FormSite) -> None:
    with pytest.raises(PermanentError, match="invite refused: Email is invalid"):
        FormLoginConnector().create_account(
            _ctx(site), AccountSpec("not-an-email", email="not-an-email"), idempotency_key="k"
        )


# -- recipes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ("{not json", "recipe: not valid JSON"),
        ([], "recipe: must be a JSON object"),
        (_recipe(members=None), "'login' and 'members' are required"),
        (_recipe(login__paths="/x"), "recipe.login: unknown key 'paths'"),
        (_recipe(login__path="https://evil.test/login"), "recipe.login.path: must be a path"),
        (_recipe(login__path="//evil.test/login"), "recipe.login.path: must be a path"),
        (_recipe(members__row="table##x"), "recipe.members.row: selector 'table##x'"),
        (_recipe(members__row="tr:hover"), "recipe.members.row: selector 'tr:hover'"),
        (_recipe(members__fields={"display_name": "td"}), "needs 'login' or 'email'"),
        (_recipe(members__status_map={"On": "enabled"}), "status_map.On: must be 'active'"),
        (_recipe(members__max_pages=0), "max_pages: must be a positive integer"),
        (_recipe(login__failures=[{"reason": "bad", "text": "x"}]), "failures[0].reason"),
        (_recipe(login__failures=[{"reason": "locked"}]), "failures[0]: give 'text'"),
        (_recipe(totp={"field": "otp"}), "recipe.totp.form: required"),
        (
            _recipe(actions__invite={"path": "/new", "form": "form", "fields": {"e": "{mail}"}}),
            "unknown placeholder {mail}",
        ),
        (_recipe(actions__invite={"form": "form"}), "recipe.actions.invite.path: required"),
        (_recipe(actions__suspend={"form": "form"}), "recipe.actions: unknown key 'suspend'"),
        (_recipe(sign_in="saml"), "recipe.sign_in: must be 'form' or 'sso_only'"),
        (_recipe(base_url="http://acme.example.com"), "recipe.base_url: must be https://"),
        (_recipe(login__page_headers={"Cookie": "meta@content"}), "page_headers.Cookie: not a"),
        (_recipe(login__page_fields={"t": "meta[name=x"}), "recipe.login.page_fields.t:"),
        (
            _recipe(actions__remove={"form": "form", "confirm": {"fields": {}}}),
            "recipe.actions.remove.confirm.form: required",
        ),
    ],
)
def test_an_invalid_recipe_is_refused_naming_the_key(recipe: Any, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert message in str(info.value)


def test_the_example_recipe_and_its_json_text_load() -> None:
    assert load_recipe(RECIPE).members is not None
    assert load_recipe(json.dumps(RECIPE)).actions.keys() == {
        "invite",
        "disable",
        "enable",
        "remove",
    }


def test_a_plain_http_address_off_this_machine_is_refused() -> None:
    connector = FormLoginConnector()
    with pytest.raises(RecipeError, match="must be https://"):
        connector.check_settings({"base_url": "http://acme.example.com", "recipe": RECIPE})
    connector.check_settings({"base_url": "https://acme.example.com", "recipe": RECIPE})
    connector.check_settings({"base_url": "http://127.0.0.1:8080", "recipe": RECIPE})


# -- the page reader -------------------------------------------------------------------------


def test_selectors_read_rows_cells_attributes_and_links() -> None:
    doc = parse(
        """<table id=t><tbody>
        <tr data-id=1><td>ann@x.test<td class="st ok">Active</td>
        <tr data-id=2><td>bob@x.test<td class=st>Disabled <b>since May</b></td>
        </tbody></table><table><tr><td>outer</td></tr></table>
        <ul class=pager><li><a rel="next prev" href="/p?page=2&amp;q=1">2</a></ul>"""
    )
    rows = doc.select("table#t tbody tr")
    assert [ValueSpec.parse("@data-id").read(r) for r in rows] == ["1", "2"]
    assert [ValueSpec.parse("td:nth-child(2)").read(r) for r in rows] == [
        "Active",
        "Disabled since May",
    ]
    assert ValueSpec.parse("td.st.ok").read(rows[0]) == "Active"
    assert ValueSpec.parse("td.st.ok").read(rows[1]) is None
    assert ValueSpec.parse("ul.pager > li > a[rel~=next]@href").read(doc) == "/p?page=2&q=1"
    assert ValueSpec.parse("a[href^='/p?']@href").read(doc) == "/p?page=2&q=1"
    assert len(doc.select("tr td:first-child")) == 3
    assert len(doc.select("table#t td:last-child, ul.pager a")) == 3


def test_form_fields_are_what_a_browser_would_send() -> None:
    form = parse(
        """<form><input type=hidden name=csrf value="t&amp;1"><input name=a value=x>
        <input type=checkbox name=keep value=1 checked><input type=checkbox name=no value=1>
        <input name=off value=1 disabled><select name=s><option>one<option selected value=2>two
        </select><textarea name=t>hi</textarea><input type=submit name=go value=Go></form>"""
    ).first("form")
    assert form is not None
    assert form_fields(form) == [
        ("csrf", "t&1"),
        ("a", "x"),
        ("keep", "1"),
        ("s", "2"),
        ("t", "hi"),
    ]


# -- end to end, CLI, faults -----------------------------------------------------------------


def test_a_user_from_okta_is_invited_then_disabled_on_the_service(any_env: Env) -> None:
    with form_site(FormSite()) as site:
        integration = any_env.integration(
            "form_login",
            {"base_url": site.url, "recipe": RECIPE},
            auth=FormLoginAuth(ADMIN, PASSWORD, SEED),
        )
        login = f"okta.{uuid.uuid4().hex[:6]}@acme.test"
        uid = any_env.create_user(login, name={"givenName": "Okta", "familyName": "User"})
        assert any_env.worker().run(until_idle=True, max_seconds=60).succeeded >= 1
        member = site.by_email(login)
        assert member is not None and member.status == "Invited"
        assert member.name == "Okta User"
        link = any_env.prov.link(any_env.org.id, integration, uid)
        assert link is not None and link.remote_id == str(member.id)
        any_env.set_active(uid, False)
        any_env.worker().run(until_idle=True, max_seconds=60)
        assert member.status == "Disabled"
        any_env.set_active(uid, True)
        any_env.worker().run(until_idle=True, max_seconds=60)
        assert member.status == "Active"
        assert site.password_posts == 1  # one sign-in for the whole run
        assert {j.status for j in any_env.jobs()} == {"succeeded"}


def _cli_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv(
        "SCIMSERVER_DATABASE_URL", env.store.engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SCIMSERVER_SECRET_KEYS", KeyRing.generate_key())
    integration = env.integration("manual", {}, provisioning=False)
    return env.org.slug, str(integration)


def test_cli_connect_takes_a_recipe_file_checked_before_anything_is_saved(
    env: Env, site: FormSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scimserver.cli import main

    org, name = _cli_env(env, monkeypatch)
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_recipe(members__row="tr:hover")))
    base = ["services", "connect", org, name, "--connector", "form_login"]
    result = runner.invoke(
        main, [*base, "--setting", f"base_url={site.url}", "--recipe-file", str(bad)]
    )
    assert result.exit_code != 0 and "recipe.members.row" in result.output
    binding = env.prov.binding(env.org.id, int(name))
    assert binding is not None and binding.connector == "manual"  # nothing was written
    good = tmp_path / "acme.json"
    good.write_text(json.dumps(RECIPE))
    stored = runner.invoke(
        main,
        [
            *("integrations", "credential", "set", org, name),
            *("--kind", "id_password", "--username", ADMIN, "--totp"),
        ],
        input=f"{PASSWORD}\n{SEED}\n",
    )
    assert stored.exit_code == 0, stored.output
    result = runner.invoke(
        main,
        [
            *(*base, "--setting", f"base_url={site.url}"),
            *("--recipe-file", str(good), "--test", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    connected = json.loads(result.output)
    assert connected["settings"]["recipe"] == RECIPE
    assert connected["connection"]["ok"] is True, connected  # vault -> auth_from -> sign-in
    assert site.password_posts == 1 and site.code_posts == 1
    assert PASSWORD not in result.output and SEED not in result.output
    sso = tmp_path / "sso.json"
    sso.write_text(json.dumps({"name": "bigco", "sign_in": "sso_only", "note": "SAML only"}))
    result = runner.invoke(
        main, [*base, "--setting", f"base_url={site.url}", "--recipe-file", str(sso)]
    )
    assert result.exit_code == 0 and "cannot work" in result.output and "SAML only" in result.output
    listed = runner.invoke(main, ["connectors"]).output
    assert "form_login\t" in listed and "SSO only" in listed


def test_a_slow_service_is_retried_later_and_not_parked(env: Env) -> None:
    with form_site(FormSite(totp_required=False)) as site:
        integration = env.integration(
            "form_login",
            {"base_url": site.url, "recipe": RECIPE},
            auth=FormLoginAuth(ADMIN, PASSWORD),
        )
        env.create_user("slow@acme.test")
        original = site.handle

        def slow(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
            if target.startswith("/admin/members"):
                time.sleep(0.5)
            return original(method, target, body, cookies)

        site.handle = slow  # type: ignore[method-assign]
        stats = env.worker(timeout=0.2).run(until_idle=True)
        assert stats.retried == 1
        (job,) = env.jobs()
        assert job.status == "pending" and "timed out" in (job.last_error or "")
        binding = env.prov.binding(env.org.id, integration)
        assert binding is not None and binding.integration.status == "active"
        site.handle = original  # type: ignore[method-assign]
        time.sleep(0.6)  # the slow answers are done
        env.make_due()
        env.worker().run(until_idle=True)
        assert [j.status for j in env.jobs()] == ["succeeded"]
        assert [m.email for m in site.members.values()] == ["slow@acme.test"]
        assert site.password_posts == 1  # the session was kept across the retry


def test_hostile_pages_cannot_crash_the_worker(env: Env) -> None:
    with form_site(FormSite(totp_required=False)) as site:
        env.integration(
            "form_login",
            {"base_url": site.url, "recipe": RECIPE},
            auth=FormLoginAuth(ADMIN, PASSWORD),
        )
        answers = [
            "<div>" * 200_000,  # deeply nested
            "x" * (3 * 1024 * 1024),  # larger than the response cap
            "<table id=members><tbody>" + "<tr><td>" * 5000,  # rows without a login
        ]
        original = site.handle

        def hostile(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
            status, headers, page = original(method, target, body, cookies)
            if target.startswith("/admin/members") and method == "GET" and answers:
                return 200, headers, answers.pop(0)
            return status, headers, page

        site.handle = hostile  # type: ignore[method-assign]
        for n in range(3):
            env.create_user(f"evil{n}@acme.test")
        for _ in range(4):
            env.worker().run(until_idle=True)
            env.make_due()
        env.worker().run(until_idle=True)
        assert {j.status for j in env.jobs()} <= {"succeeded", "dead"}  # none left hanging
        errors = " ".join(j.last_error or "" for j in env.jobs())
        assert "larger than" in errors
        assert {m.email for m in site.members.values()} <= {f"evil{n}@acme.test" for n in range(3)}
        assert "succeeded" in {j.status for j in env.jobs()}  # the worker carried on


def test_worker_killed_mid_run_loses_nothing_and_invites_nobody_twice(tmp_path: Path) -> None:
    from scimcore.storage.sql.credentials import SqlCredentialStore

    from .conftest import make_env

    url = f"sqlite:///{tmp_path / 'kill.db'}"
    env = make_env(url)
    key = KeyRing.generate_key()
    with form_site(FormSite(totp_required=False)) as site:
        integration = env.integration("form_login", {"base_url": site.url, "recipe": RECIPE})
        CredentialVault(SqlCredentialStore(env.store.engine), KeyRing([key])).put(
            integration, IdPassword(ADMIN, PASSWORD)
        )
        names = [f"batch{n}@acme.test" for n in range(8)]
        for name in names:
            env.create_user(name)
        original = site.handle

        def slow(method: str, target: str, body: bytes, cookies: dict[str, str]) -> Any:
            time.sleep(0.03)
            return original(method, target, body, cookies)

        site.handle = slow  # type: ignore[method-assign]
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
            "SCIMSERVER_DATABASE_URL": url,
            "SCIMSERVER_SECRET_KEYS": key,
        }
        script = Path(sys.executable).with_name("scimserver")
        proc = subprocess.Popen(
            [str(script), "worker", "--batch", "8", "--lease-seconds", "1"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while len(site.members) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert 2 <= len(site.members) < len(names)  # killed in the middle of its batch
        site.handle = original  # type: ignore[method-assign]
        time.sleep(1.1)  # the dead worker's lease runs out
        env.auth[integration] = FormLoginAuth(ADMIN, PASSWORD)
        env.worker().run(until_idle=True)
        assert {j.status for j in env.jobs()} == {"succeeded"}
        invites = [
            f["member[email]"] for m, p, f in site.requests if m == "POST" and p == "/admin/members"
        ]
        assert sorted(set(invites)) == sorted(names)
        assert len(invites) == len(names)  # nobody invited twice
        assert sorted(m.email for m in site.members.values()) == sorted(names)
