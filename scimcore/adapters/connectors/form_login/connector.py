"""``form_login``: members of a service without an API, through its admin web pages,
signed in to as the integration's administrator (docs/connectors/form-login.md).

Everything service-specific is the integration's ``recipe`` setting
(:mod:`.recipe`); this module maps the connector contract onto it:

* discover: the member list, page by page (``members.next``), one
  :class:`~scimcore.provisioning.connector.RemoteAccount` per matching row;
* create: the ``invite`` form, after checking the member is not there already (then
  :class:`~scimcore.provisioning.errors.AlreadyExists`), and the member read back;
* deactivate / reactivate: the ``disable`` / ``enable`` form, only when the member's
  status says it is needed (so repeating it changes nothing);
* delete: the ``remove`` form; a member not listed is already gone.

An action the recipe does not declare raises
:class:`~scimcore.provisioning.errors.UnsupportedOperation` naming it. Each call
reuses the run's signed-in session (:func:`.session.signed_in`); a page that lands on
the sign-in form means the session expired: the connector signs in once more, and
only once, for that call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urljoin

from ....provisioning.connector import (
    AccountRef,
    AccountSpec,
    Auth,
    AuthMethod,
    Capability,
    ConnectionCheck,
    ConnectorContext,
    OAuthPreset,
    RemoteAccount,
)
from ....provisioning.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConnectorError,
    InvalidData,
    InvalidResponse,
    PermanentError,
    UnsupportedOperation,
)
from ..http import excerpt
from .credential import FormLoginAuth, find_login, from_credential
from .html import Node, default_button, form_fields
from .recipe import Action, FromPage, Recipe, RecipeError, check_base_url, fill, load_recipe
from .session import (
    Browser,
    Page,
    check_status,
    failure_on,
    from_page,
    matches,
    refuse,
    sign_in_page,
    signed_in,
)

#: The setting holding the recipe (a JSON object, or its text).
RECIPE_SETTING = "recipe"


def recipe_of(settings: Mapping[str, Any]) -> tuple[Recipe, str]:
    """The integration's recipe and the base URL its paths are relative to.

    Raises :class:`~.recipe.RecipeError` naming what is missing or wrong."""
    if settings.get(RECIPE_SETTING) in (None, ""):
        raise RecipeError(
            "the form_login connector needs a 'recipe' setting: the JSON document that "
            "describes the service's sign-in and member pages (docs/connectors/form-login.md)"
        )
    recipe = load_recipe(settings[RECIPE_SETTING])
    base = settings.get("base_url") or recipe.base_url
    if not base:
        if recipe.blocker is not None:
            return recipe, ""
        raise RecipeError("base_url: required (the service's address), in the settings or recipe")
    return recipe, check_base_url(str(base), "base_url")


def sign_in_blocker(settings: Mapping[str, Any]) -> str | None:
    """Why form_login cannot sign in with these settings, for the console and the CLI to
    show before anything is tried (an SSO-only service, pages that need JavaScript, a
    missing or invalid recipe); ``None`` when nothing known stands in the way."""
    try:
        recipe, _ = recipe_of(settings)
    except RecipeError as exc:
        return f"the form_login settings cannot be used: {exc}"
    return recipe.blocker


@dataclass
class _Row:
    """A member as listed, with the page and row it was read from (its forms)."""

    account: RemoteAccount
    page: Page
    node: Node


class _Site:
    """One call's view of the service: recipe, signed-in browser, pages."""

    def __init__(self, ctx: ConnectorContext) -> None:
        try:
            self.recipe, base = recipe_of(ctx.settings)
        except RecipeError as exc:
            # Parked (needs_reauth) rather than failed: the jobs wait for a fixed recipe.
            raise AuthenticationFailed(
                f"form_login settings cannot be used: {exc}; connect the service again "
                "with a corrected recipe"
            ) from None
        blocker = self.recipe.blocker
        if blocker is not None:
            # Nothing to try: the integration waits for an administrator (needs_reauth).
            raise AuthenticationFailed(f"form_login cannot sign in: {blocker}")
        self.login: FormLoginAuth = find_login(ctx.auth)
        digest = hashlib.sha256(
            json.dumps(ctx.settings.get(RECIPE_SETTING), sort_keys=True, default=str).encode()
        ).hexdigest()
        self.key: tuple[object, ...] = (
            ctx.organization_id,
            ctx.integration_id,
            base,
            digest,
            self.login.fingerprint,
        )
        self.browser = Browser(
            base, ctx.auth, timeout=ctx.timeout, max_bytes=ctx.max_response_bytes
        )
        #: Signed in by this call: a sign-in page now means the sign-in did not work.
        self._just_signed_in = signed_in(self.key, self.browser, self.recipe, self.login)

    def page(self, url: str, what: str) -> Page:
        """A page of the signed-in session. A sign-in page instead means the kept
        session expired: one new sign-in, once per call. Right after a sign-in it means
        the sign-in did not work: refused and remembered, never retried."""
        page = self.browser.get(url)
        if sign_in_page(self.recipe, page):
            if self._just_signed_in:
                raise refuse(
                    self.key,
                    f"form_login: {what}: signed in as {self.login.username!r}, but the "
                    f"service shows the sign-in page again ({page.path}): the account may "
                    "not be an administrator, or the sign-in was refused in a way the "
                    "recipe does not recognise (add login.success and login.failures)",
                )
            self._just_signed_in = signed_in(
                self.key, self.browser, self.recipe, self.login, fresh=True
            )
            return self.page(url, what)
        check_status(page, f"form_login: {what}")
        self._just_signed_in = False  # the session works: a later sign-in page is expiry
        return page

    # -- members ----------------------------------------------------------------------------

    def rows(self) -> Iterator[_Row]:
        members = self.recipe.members
        assert members is not None
        url = self.browser.url(members.path)
        seen: set[str] = set()
        for _ in range(members.max_pages):
            seen.add(url)
            page = self.page(url, "reading the member list")
            for node in page.doc.select(members.row):
                account = self._account(node)
                if account is not None:
                    yield _Row(account, page, node)
            link = members.next.read(page.doc) if members.next is not None else None
            if not link:
                return
            url = urljoin(page.url, link)
            self.browser.check_origin(url, "the member list's next page")
            if url in seen:
                return  # the last page links to itself (or back): done
        raise InvalidResponse(
            f"form_login: the member list has more than {members.max_pages} pages; stopped "
            "(raise recipe.members.max_pages if that is right)"
        )

    def _account(self, node: Node) -> RemoteAccount | None:
        members = self.recipe.members
        assert members is not None
        values = {key: spec.read(node) or None for key, spec in members.fields.items()}
        for key in ("email", "login"):
            value = values.get(key)
            if value and value.lower().startswith("mailto:"):  # an <a href="mailto:…">
                values[key] = unquote(value[7:].split("?", 1)[0]) or None
        login = values.get("login") or values.get("email")
        if not login:
            return None  # a header or an empty-list row
        status = "active"
        if members.status is not None:
            text = members.status.read(node) or ""
            status = _status(text, members.status_map) or members.status_default
        raw = {k: v for k, v in values.items() if v is not None}
        return RemoteAccount(
            remote_id=values.get("remote_id") or login,
            login=login,
            email=values.get("email") or (login if "@" in login else None),
            display_name=values.get("display_name"),
            given_name=values.get("given_name"),
            family_name=values.get("family_name"),
            status="suspended" if status == "suspended" else "active",
            raw=raw,
        )

    def find(
        self, *, remote_id: str | None = None, keys: tuple[str | None, ...] = ()
    ) -> _Row | None:
        wanted = {k.lower() for k in keys if k}
        fallback = None
        for row in self.rows():
            if remote_id and row.account.remote_id == remote_id:
                return row
            names = {row.account.login.lower(), (row.account.email or "").lower()}
            if fallback is None and wanted & names:
                fallback = row
                if not remote_id:
                    return row
        return fallback

    def row_of(self, ref: AccountRef) -> _Row | None:
        return self.find(remote_id=ref.remote_id, keys=(ref.account_id,))

    # -- actions ----------------------------------------------------------------------------

    def action(self, name: str) -> Action:
        action = self.recipe.actions.get(name)
        if action is None:
            raise UnsupportedOperation(
                f"form_login: the recipe {self.recipe.name!r} declares no {name!r} form "
                f"(recipe.actions.{name})"
            )
        return action

    def submit(self, name: str, values: Mapping[str, str | None], row: _Row | None) -> Page:
        """Fill and submit the action's form (its hidden inputs, the CSRF token, as they
        are); raise the recipe's failure, or an HTTP error, if the service refuses."""
        action = self.action(name)
        if action.path is not None:
            page = self.page(
                self.browser.url(fill(action.path, values, quote_path=True)), f"the {name} page"
            )
            scope = page.doc
        else:
            assert row is not None
            page, scope = row.page, row.node
        form = scope.first(action.form)
        if form is None:
            raise InvalidResponse(
                f"form_login: no {name} form ({action.form.source!r}) on {page.path}"
                + ("" if action.path else " in the member's row")
            )
        result = self._fill_and_submit(page, form, action.fields, values, action.from_page)
        if action.confirm is not None and not sign_in_page(self.recipe, result):
            confirm = result.doc.first(action.confirm.form)
            if confirm is not None:  # "Really remove?": say yes
                result = self._fill_and_submit(
                    result, confirm, action.confirm.fields, values, action.from_page
                )
        failure = failure_on(result, action.failures)
        if failure is not None:
            said = failure.message
            if said is None and failure.marker.selector is not None:
                shown = result.doc.first(failure.marker.selector)
                said = excerpt(shown.text()) if shown is not None else None
            raise InvalidData(
                f"form_login: {name} refused: {said or failure.reason}", status=result.status
            )
        if sign_in_page(self.recipe, result):
            raise AuthenticationFailed(
                f"form_login: {name}: the service sent the form back to sign-in; "
                "the session expired or the account is not an administrator"
            )
        check_status(result, f"form_login: {name}")
        if action.success is not None and not matches(action.success, result):
            raise InvalidResponse(
                f"form_login: {name}: the page after the form ({result.path}) does not show "
                "the recipe's success marker"
            )
        return result

    def _fill_and_submit(
        self,
        page: Page,
        form: Node,
        templates: Mapping[str, str],
        values: Mapping[str, str | None],
        extra: FromPage | None = None,
    ) -> Page:
        """The form's own fields (the CSRF token) with the recipe's filled in."""
        fixed = {key: fill(t, values) for key, t in templates.items()}
        fields, headers = from_page(page, extra) if extra is not None else ({}, {})
        fixed.update(fields)
        sent = [(k, fixed.pop(k)) if k in fixed else (k, v) for k, v in form_fields(form)]
        sent += list(fixed.items())
        button = default_button(form)
        if button is not None and button[0] not in {k for k, _ in sent}:
            sent.append(button)
        return self.browser.submit(page, form, sent, secret=False, headers=headers)


def _status(text: str, status_map: Mapping[str, str]) -> str | None:
    """The status of ``text``: its entry in the map, or else the first entry whose words
    all appear in it ("Disabled since May", a row's ``class="member disabled"``)."""
    key = " ".join(text.split()).lower()
    if key in status_map:
        return status_map[key]
    words = set(re.findall(r"[\w-]+", key))
    for name, status in status_map.items():
        if set(name.split()) <= words:
            return status
    return None


def _values(
    account: RemoteAccount | None, spec: AccountSpec | None = None
) -> dict[str, str | None]:
    if spec is not None:
        return {
            "login": spec.account_id,
            "email": spec.email or spec.account_id,
            "display_name": spec.display_name
            or " ".join(p for p in (spec.given_name, spec.family_name) if p)
            or None,
            "given_name": spec.given_name,
            "family_name": spec.family_name,
            "remote_id": None,
        }
    assert account is not None
    return {
        "remote_id": account.remote_id,
        "login": account.login,
        "email": account.email,
        "display_name": account.display_name,
        "given_name": account.given_name,
        "family_name": account.family_name,
    }


class FormLoginConnector:
    """Signs in through the service's login form; see the module docstring."""

    name: ClassVar[str] = "form_login"
    display_name: ClassVar[str] = "Web sign-in (form login, no API)"
    capabilities: ClassVar[Capability] = (
        Capability.DISCOVER
        | Capability.CREATE
        | Capability.DEACTIVATE
        | Capability.REACTIVATE
        | Capability.DELETE
    )
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset({"id_password"})
    requires_local_login: ClassVar[bool] = True
    account_id_attribute: ClassVar[str] = "email"
    address_setting: ClassVar[str | None] = "base_url"
    address_template: ClassVar[str | None] = None
    oauth_preset: ClassVar[OAuthPreset | None] = None
    #: Settings given as a JSON document (the console shows a text box for each).
    json_settings: ClassVar[tuple[str, ...]] = ("recipe",)

    def auth_from(self, credential: object) -> Auth | None:
        """The vault's ``id_password`` credential as a :class:`~.credential.FormLoginAuth`
        (secrets private, used only in the sign-in form); other kinds are refused."""
        return from_credential(credential)

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Validate the recipe and address before they are saved (raises ValueError)."""
        recipe_of(settings)

    def sign_in_blocker(self, settings: Mapping[str, Any]) -> str | None:
        """Why these settings can never sign in (:func:`sign_in_blocker`), or ``None``."""
        return sign_in_blocker(settings)

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            site = _Site(ctx)
            assert site.recipe.members is not None
            page = site.page(site.browser.url(site.recipe.members.path), "the member list")
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        count = len(page.doc.select(site.recipe.members.row))
        return ConnectionCheck(
            True,
            f"signed in as {site.login.username!r}; {count} rows on the first member page",
            site.browser.origin,
        )

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 100
    ) -> Iterator[RemoteAccount]:
        for row in _Site(ctx).rows():
            yield row.account

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None:
        row = _Site(ctx).row_of(ref)
        return row.account if row is not None else None

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None:
        if not (account_id or email):
            return None
        row = _Site(ctx).find(keys=(account_id, email))
        return row.account if row is not None else None

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        site = _Site(ctx)
        site.action("invite")
        existing = site.find(keys=(spec.account_id, spec.email))
        if existing is not None:
            raise AlreadyExists(
                f"a member '{spec.account_id}' already exists", existing=existing.account
            )
        site.submit("invite", _values(None, spec), None)
        created = site.find(keys=(spec.account_id, spec.email))
        if created is None:
            raise InvalidResponse(
                f"form_login: the invitation of '{spec.account_id}' was accepted but the "
                "member list does not show it"
            )
        return created.account

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        raise UnsupportedOperation("form_login does not update members' details")

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_active(ctx, ref, False)

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_active(ctx, ref, True)

    def _set_active(
        self, ctx: ConnectorContext, ref: AccountRef, active: bool
    ) -> RemoteAccount | None:
        site = _Site(ctx)
        name = "enable" if active else "disable"
        site.action(name)
        row = site.row_of(ref)
        if row is None:
            if active:
                raise PermanentError(
                    f"form_login: no member '{ref.account_id or ref.remote_id}' to enable"
                )
            return None
        if row.account.active == active:
            return row.account
        site.submit(name, _values(row.account), row)
        after = site.row_of(AccountRef(remote_id=row.account.remote_id))
        if after is None or after.account.active != active:
            raise InvalidResponse(
                f"form_login: the {name} form was accepted but the member list still shows "
                f"'{row.account.login}' as {'inactive' if active else 'active'}"
            )
        return after.account

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        site = _Site(ctx)
        site.action("remove")
        row = site.row_of(ref)
        if row is None:
            return
        site.submit("remove", _values(row.account), row)
