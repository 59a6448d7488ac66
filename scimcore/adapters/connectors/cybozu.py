"""``cybozu``: users of a cybozu.com domain through the common management User API.

The service is one domain, ``https://{subdomain}.cybozu.com`` (the integration's
``base_url``, filled in from the ``subdomain`` setting when it is connected); every
call is JSON under ``/v1/`` (cybozu.dev, "User APIの共通仕様":
https://cybozu.dev/ja/common/docs/user-api/overview/user-api-overview/).

What each action does there (docs/connectors/cybozu.md):

* discover: ``GET /v1/users.json`` with ``size`` (1-100, the documented maximum) and
  ``offset``, until a page comes back short; ``valid: false`` ("使用停止中") is a
  suspended account. The API reports no sign-in time.
* read and find: ``GET /v1/users.json`` with ``codes[0]`` (the login name) or ``ids[0]``
  (the numeric user id). The API has no e-mail filter, so finding by e-mail pages
  through the listing (the ``email_lookup`` setting, ``false``, turns that off).
* create: ``POST /v1/users.json`` with one user: ``code`` (the account ID), ``name``
  (required), the names, the e-mail, ``valid`` and a random password (required by the
  API, at most 64 characters; people sign in through the IdP, and it is never stored).
  The answer carries no id, so the user is read back by its code. A login name
  already taken is :class:`~scimcore.provisioning.errors.AlreadyExists`.
* update: ``PUT /v1/users.json`` of what differs. The reference says an omitted
  ``valid`` *becomes true* and an omitted ``locale`` becomes "follow the browser", so
  every update sends the user's current ``valid`` and ``locale`` back (an update never
  reactivates a suspended user, nor resets a language).
* deactivate and reactivate: the same ``PUT`` with ``valid`` false or true.
* delete: ``DELETE /v1/users.json`` with ``codes`` (a user already gone is no error).
* license profiles: ``GET``/``PUT /v1/users/services.json``: the services a user may
  use (``kintone``, ``garoon``, ``office``, ``mailwise``, ``secure_access``). See
  :func:`license_services`.

Errors are ``{"code": "CB_…", "id": …, "message": …}``: a refused login
(``CB_WA01``) or missing right (``CB_NO02``) parks the integration
(:class:`~scimcore.provisioning.errors.AuthenticationFailed`), a value the service
refuses (``CB_VA01``) fails the job, the rest follows the shared client
(:func:`.http.raise_for_status`: 429 or 503 with Retry-After waits, 5xx retries).

Authentication (:meth:`CybozuConnector.auth_from`): an administrator's login name and
password (vault kind ``id_password``) as ``X-Cybozu-Authorization``, or a cybozu.com
API token (kind ``bearer``) as ``Authorization: Bearer``, which the User API accepts
since April 2025. OAuth clients of cybozu.com carry kintone and Garoon scopes only,
none for the User API, so OAuth is not offered.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from ...provisioning.connector import (
    LIFECYCLE,
    AccountRef,
    AccountSpec,
    Auth,
    AuthMethod,
    Capability,
    ConnectionCheck,
    ConnectorContext,
    HttpRequest,
    OAuthPreset,
    RemoteAccount,
)
from ...provisioning.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConnectorError,
    InvalidData,
    InvalidResponse,
    PermanentError,
    RateLimited,
)
from .auth import BearerAuth
from .http import HttpResponse, excerpt, raise_for_status, send

USERS = "/v1/users.json"
SERVICES = "/v1/users/services.json"
#: The most users one call may list, create, update or delete (the reference's limit).
MAX_PAGE = 100
MAX_PAGES = 10_000
#: The service codes of ``/v1/users/services.json``, each with the names an
#: administrator may use for it in a license profile (case-insensitive).
SERVICE_NAMES: Mapping[str, tuple[str, ...]] = {
    "kintone": ("kintone",),
    "garoon": ("garoon",),
    "office": ("office", "cybozu office", "サイボウズ office"),
    "mailwise": ("mailwise", "メールワイズ"),
    "secure_access": ("secure_access", "secureaccess", "secure access", "セキュアアクセス"),
}
#: Error codes with which cybozu.com refuses who is calling, whatever the HTTP status:
#: a wrong login or password, an account that may not use the API, a missing right.
AUTH_CODES = frozenset({"CB_WA01", "CB_AU01", "CB_NO02"})
#: Error codes for a request the service will never accept as sent.
INVALID_CODES = frozenset({"CB_VA01", "CB_IJ01", "CB_IL02"})


class CybozuPasswordAuth:
    """Password authentication of the User API: ``X-Cybozu-Authorization:
    base64(login:password)``; with ``basic`` (the domain's own Basic authentication,
    set up together with IP restrictions) also ``Authorization: Basic``."""

    def __init__(self, login: str, password: str, *, basic: tuple[str, str] | None = None):
        if not login or not password:
            raise ValueError("a cybozu.com login needs a login name and a password")
        self.login = login
        self._token = _b64(f"{login}:{password}")
        self._basic = _b64(f"{basic[0]}:{basic[1]}") if basic else None

    def apply(self, request: HttpRequest) -> None:
        request.headers["X-Cybozu-Authorization"] = self._token
        if self._basic is not None:
            request.headers["Authorization"] = f"Basic {self._basic}"

    def __repr__(self) -> str:
        extra = ", basic=<secret>" if self._basic else ""
        return f"CybozuPasswordAuth({self.login!r}, <secret>{extra})"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class CybozuConnector:
    name: ClassVar[str] = "cybozu"
    display_name: ClassVar[str] = "cybozu.com"
    capabilities: ClassVar[Capability] = Capability.DISCOVER | LIFECYCLE | Capability.LICENSES
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset({"id_password", "bearer_token"})
    #: A cybozu.com administrator keeps password authentication for the API even when
    #: SAML sign-in is made mandatory (cybozu.com help, "ログイン時にSAML認証だけを使う
    #: ように制限する"), and an API token needs no login at all.
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "login"
    address_setting: ClassVar[str | None] = "base_url"
    address_template: ClassVar[str | None] = "https://{subdomain}.cybozu.com"
    oauth_preset: ClassVar[OAuthPreset | None] = None

    # -- credentials ----------------------------------------------------------------------

    def auth_from(self, credential: object) -> Auth | None:
        """The vault's credential as this service's :class:`Auth`.

        A login (``id_password``) becomes :class:`CybozuPasswordAuth`, not HTTP Basic;
        a token (``bearer``) a cybozu.com API token. cybozu.com refuses password
        authentication for an account with two-step verification, so a login stored
        with a TOTP seed is refused here, saying what to use instead.
        """
        kind = getattr(credential, "kind", "")
        if kind == "id_password":
            if getattr(credential, "totp_secret", None):
                raise AuthenticationFailed(
                    "cybozu.com refuses password authentication for an account with "
                    "two-step verification: store the login of an administrator without "
                    "it, or a cybozu.com API token (credential kind bearer)"
                )
            return CybozuPasswordAuth(
                str(getattr(credential, "username", "")),
                str(getattr(credential, "password", "")),
            )
        if kind == "bearer":
            return BearerAuth(str(getattr(credential, "token", "")))
        raise AuthenticationFailed(
            f"cybozu.com cannot use a {kind or type(credential).__name__} credential: "
            "store an administrator's login (kind id_password) or a cybozu.com API token "
            "(kind bearer)"
        )

    # -- plumbing -----------------------------------------------------------------------

    def _call(
        self,
        ctx: ConnectorContext,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> HttpResponse:
        base = str(ctx.settings.get("base_url") or "").rstrip("/")
        if not base:
            raise PermanentError("the integration has no base_url (https://SUBDOMAIN.cybozu.com)")
        url = base + path + (f"?{urlencode(query)}" if query else "")
        return send(
            method,
            url,
            auth=ctx.auth,
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            json_body=body,
        )

    def _object(self, resp: HttpResponse, what: str) -> dict[str, Any]:
        check(resp, what)
        data = resp.json()
        if not isinstance(data, dict):
            raise InvalidResponse(f"{what}: expected a JSON object", status=resp.status)
        return data

    def _users(
        self, ctx: ConnectorContext, query: Mapping[str, Any], what: str
    ) -> list[dict[str, Any]]:
        data = self._object(self._call(ctx, "GET", USERS, query=query), what)
        users = data.get("users")
        if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
            raise InvalidResponse(f"{what}: 'users' is not a list of users")
        return users

    def _by_code(self, ctx: ConnectorContext, code: str) -> RemoteAccount | None:
        found = self._users(ctx, {"codes[0]": code}, "reading a user")
        same = [u for u in found if str(u.get("code", "")).lower() == code.lower()]
        return to_account(same[0]) if same else None

    def _by_id(self, ctx: ConnectorContext, id_: str) -> RemoteAccount | None:
        if not id_.isdigit():  # the API's ids are numbers; anything else is no user
            return None
        found = self._users(ctx, {"ids[0]": id_}, "reading a user")
        same = [u for u in found if str(u.get("id")) == id_]
        return to_account(same[0]) if same else None

    # -- the interface --------------------------------------------------------------------

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            self._users(ctx, {"size": 1}, "listing users")
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        return ConnectionCheck(True, "connected")

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = MAX_PAGE
    ) -> Iterator[RemoteAccount]:
        size = max(1, min(MAX_PAGE, int(ctx.settings.get("page_size") or page_size)))
        for page in range(MAX_PAGES):
            users = self._users(ctx, {"size": size, "offset": page * size}, "listing users")
            for item in users:
                yield to_account(item)
            if len(users) < size:
                return
        raise InvalidResponse(f"listing users: more than {MAX_PAGES} pages; stopped")

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None:
        if ref.remote_id:
            found = self._by_id(ctx, ref.remote_id)
            if found is not None or not ref.account_id:
                return found
        assert ref.account_id is not None
        return self._by_code(ctx, ref.account_id)

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None:
        if account_id:
            found = self._by_code(ctx, account_id)
            if found is not None:
                return found
        if email and _setting_on(ctx.settings.get("email_lookup")):
            # No e-mail filter in the User API: the listing is read until a match (one
            # request per 100 users, for each account the worker is about to create).
            wanted = email.lower()
            for account in self.iter_accounts(ctx):
                if account.email and account.email.lower() == wanted:
                    return account
        return None

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        services = self._wanted_services(ctx, spec)  # an unknown profile fails first
        user: dict[str, Any] = {
            "code": spec.account_id,
            "name": _display(spec),
            "valid": spec.active,
            # Required by the API; people sign in through the IdP (SAML), and the
            # password is never stored or shown.
            "password": secrets.token_urlsafe(33)[:44],
        }
        user.update(_names(spec))
        resp = self._call(ctx, "POST", USERS, body={"users": [user]})
        if resp.status >= 400 and _error_code(resp) in INVALID_CODES:
            existing = self._by_code(ctx, spec.account_id)
            if existing is not None:
                raise AlreadyExists(f"a user '{spec.account_id}' already exists", existing=existing)
        check(resp, "creating a user")
        created = self._by_code(ctx, spec.account_id)
        if created is None:
            raise InvalidResponse(f"creating a user: '{spec.account_id}' cannot be read back")
        self._apply_services(ctx, created.login, services)
        return created

    def update_account(
        self,
        ctx: ConnectorContext,
        ref: AccountRef,
        desired: AccountSpec,
        *,
        idempotency_key: str,
    ) -> RemoteAccount:
        services = self._wanted_services(ctx, desired)
        current = self.get_account(ctx, ref)
        if current is None:
            raise PermanentError(f"no user '{ref.account_id or ref.remote_id}' to update")
        changes: dict[str, Any] = {}
        if _display(desired) != current.display_name:
            changes["name"] = _display(desired)
        for key, value in _names(desired).items():
            if value != current.raw.get(key):
                changes[key] = value
        if desired.active != current.active:
            changes["valid"] = desired.active
        if changes:
            self._put(ctx, current, changes, "updating a user")
            current = self._by_code(ctx, current.login) or current
        self._apply_services(ctx, current.login, services)
        return current

    def _put(
        self, ctx: ConnectorContext, current: RemoteAccount, changes: dict[str, Any], what: str
    ) -> None:
        """``PUT`` of ``changes``, with ``valid`` and ``locale`` always sent: the API
        sets an omitted ``valid`` to true and an omitted ``locale`` to "auto"."""
        user: dict[str, Any] = {"code": current.login, "valid": current.active}
        locale = current.raw.get("locale")
        if isinstance(locale, str) and locale:
            user["locale"] = locale
        user.update(changes)
        check(self._call(ctx, "PUT", USERS, body={"users": [user]}), what)

    def _set_valid(
        self, ctx: ConnectorContext, ref: AccountRef, valid: bool
    ) -> RemoteAccount | None:
        current = self.get_account(ctx, ref)
        if current is None:
            return None
        if current.active == valid:
            return current
        self._put(ctx, current, {"valid": valid}, "suspending a user")
        return self._by_code(ctx, current.login)

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_valid(ctx, ref, False)

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_valid(ctx, ref, True)

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        current = self.get_account(ctx, ref)
        if current is None:
            return
        check(self._call(ctx, "DELETE", USERS, body={"codes": [current.login]}), "deleting a user")

    # -- license profiles: the services a user may use ----------------------------------------

    def _wanted_services(self, ctx: ConnectorContext, spec: AccountSpec) -> list[str] | None:
        profile = spec.extras.get("license_profile")
        if not isinstance(profile, str) or not profile.strip():
            return None
        return license_services(profile, ctx.settings.get("license_services"))

    def _apply_services(self, ctx: ConnectorContext, code: str, services: list[str] | None) -> None:
        """Set the user's services to exactly ``services``; nothing when they already are."""
        if services is None:
            return
        data = self._object(
            self._call(ctx, "GET", SERVICES, query={"codes[0]": code}), "reading services"
        )
        held: set[str] | None = None
        for item in data.get("users") or []:
            if isinstance(item, dict) and str(item.get("code", "")).lower() == code.lower():
                raw = item.get("services")
                held = {str(s) for s in raw} if isinstance(raw, list) else set()
        if held == set(services):
            return
        body = {"users": [{"code": code, "services": services}]}
        check(self._call(ctx, "PUT", SERVICES, body=body), "setting the user's services")


def license_services(profile: str, setting: Any = None) -> list[str]:
    """The service codes a license profile means.

    The integration's ``license_services`` setting names them per profile, as a mapping
    or as ``Standard=kintone+garoon;Garoon only=garoon;None=`` (an empty list takes
    every service away). A profile the setting does not name is read as service names
    joined by ``+`` (``kintone+Garoon``, ``Garoon``, ``Office``, ``Mailwise``,
    ``SecureAccess``), case-insensitively. Anything else fails the job, naming it.
    """
    named = _profiles(setting)
    parts = named[profile] if profile in named else profile.split("+")
    out: list[str] = []
    for part in parts:
        code = _service_code(part)
        if code is None:
            known = ", ".join(sorted(named)) or "none"
            raise PermanentError(
                f"license profile '{profile}': '{part.strip()}' is no cybozu.com service "
                f"(kintone, garoon, office, mailwise, secure_access); name the profile in "
                f"the integration's license_services setting (profiles there: {known})"
            )
        if code not in out:
            out.append(code)
    return out


def _profiles(value: Any) -> dict[str, list[str]]:
    if isinstance(value, Mapping):
        return {
            str(k): [str(p) for p in (v.split("+") if isinstance(v, str) else v) if str(p).strip()]
            for k, v in value.items()
        }
    if not isinstance(value, str) or not value.strip():
        return {}
    out: dict[str, list[str]] = {}
    for item in value.split(";"):
        name, sep, parts = item.partition("=")
        if sep and name.strip():
            out[name.strip()] = [p for p in parts.split("+") if p.strip()]
    return out


def _service_code(name: str) -> str | None:
    wanted = " ".join(name.strip().lower().split())
    for code, names in SERVICE_NAMES.items():
        if wanted in names:
            return code
    return None


# -- errors ------------------------------------------------------------------------------


def _error(resp: HttpResponse) -> dict[str, Any]:
    try:
        data = resp.json()
    except InvalidResponse:
        return {}
    return data if isinstance(data, dict) else {}


def _error_code(resp: HttpResponse) -> str:
    code = _error(resp).get("code")
    return code if isinstance(code, str) else ""


def check(resp: HttpResponse, what: str) -> None:
    """Turn a non-2xx answer into the typed error, by cybozu.com's error code first."""
    if 200 <= resp.status < 300:
        return
    data = _error(resp)
    code = _error_code(resp)
    said = " ".join(
        str(data[k]) for k in ("code", "message") if isinstance(data.get(k), str) and data[k]
    )
    if isinstance(data.get("id"), str):
        said += f" (error id {data['id']})"
    message = f"{what}: HTTP {resp.status}" + (f": {excerpt(said)}" if said else "")
    if code in AUTH_CODES:
        raise AuthenticationFailed(message, status=resp.status)
    if code in INVALID_CODES:
        raise InvalidData(message, status=resp.status)
    # Otherwise as every connector (429 or 503 + Retry-After waits, 401/403 parks, 5xx
    # retries), with the service's own words in the message.
    try:
        raise_for_status(resp, what)
    except RateLimited as exc:
        raise RateLimited(message, retry_after=exc.retry_after, status=exc.status) from None
    except ConnectorError as exc:
        raise type(exc)(message, status=exc.status) from None


# -- values ------------------------------------------------------------------------------


def _display(spec: AccountSpec) -> str:
    """``name`` is required (at most 128 characters, not blank)."""
    if spec.display_name and spec.display_name.strip():
        return spec.display_name[:128]
    names = " ".join(n for n in (spec.family_name, spec.given_name) if n)
    return (names or spec.account_id.split("@", 1)[0])[:128]


def _names(spec: AccountSpec) -> dict[str, str]:
    """The optional fields this connector keeps: names (64 characters) and e-mail (256)."""
    out: dict[str, str] = {}
    if spec.family_name:
        out["surName"] = spec.family_name[:64]
    if spec.given_name:
        out["givenName"] = spec.given_name[:64]
    if spec.email:
        out["email"] = spec.email[:256]
    return out


def _setting_on(value: Any) -> bool:
    """A boolean setting, on unless it says otherwise (``false``, ``no``, ``off``, ``0``)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "no", "off", "0")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_account(doc: dict[str, Any]) -> RemoteAccount:
    """A User API ``User`` as a :class:`RemoteAccount`, checking what it reads."""
    id_, code = doc.get("id"), doc.get("code")
    if isinstance(id_, int) and not isinstance(id_, bool):
        id_ = str(id_)
    if not isinstance(id_, str) or not id_ or not isinstance(code, str) or not code:
        raise InvalidResponse("a user without an id or a code")
    return RemoteAccount(
        remote_id=id_,
        login=code,
        email=_text(doc.get("email")),
        display_name=_text(doc.get("name")),
        given_name=_text(doc.get("givenName")),
        family_name=_text(doc.get("surName")),
        status="suspended" if doc.get("valid") is False else "active",
        raw={k: v for k, v in doc.items() if k != "password"},
    )
