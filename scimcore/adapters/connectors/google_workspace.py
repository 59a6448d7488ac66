"""``google_workspace``: users of a Google Workspace account through the Admin SDK
Directory API (``admin/directory/v1/users``).

What each action does there (docs/connectors/google-workspace.md):

* discover: ``users.list`` of the customer (``my_customer``: the one the credential
  belongs to), page by page (``nextPageToken``), with each user's ``lastLoginTime`` as
  the account's last access (Google reports ``1970-01-01T00:00:00.000Z`` for "never",
  which is no time) and ``suspended``/``archived`` as its state;
* create: ``users.insert`` with the primary e-mail, the name and a random password the
  user must change at first sign-in (the API requires one; people sign in through the
  IdP anyway); an address already taken is :class:`~scimcore.provisioning.errors.AlreadyExists`;
* update: ``users.patch`` of what differs (name, external id, suspended, the
  ``org_unit_path`` setting's organizational unit), nothing when nothing does;
* deactivate and reactivate: ``suspended`` true or false;
* delete: ``users.delete`` (a user already gone is no error);
* ``mailProxyActive`` (the service-account CSV's POP/IMAP switch): Gmail's
  ``users.settings.updatePop`` and ``updateImap`` for the user, as the user. That needs
  a service account with domain-wide delegation (credential kind
  ``google_service_account``, scope ``gmail.settings.basic``); without one, a job that
  must apply the switch fails saying so, before anything is written.

The requests need the ``https://www.googleapis.com/auth/admin.directory.user`` scope
(``.readonly`` is enough for discovery alone). Quotas and throttling (429, and 403
with ``rateLimitExceeded``/``userRateLimitExceeded``) are handled by the shared client
(:func:`.http.raise_for_status`): the job waits and retries, the whole integration
pauses for a Retry-After.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from ...provisioning.connector import (
    LIFECYCLE,
    AccountRef,
    AccountSpec,
    AuthMethod,
    Capability,
    ConnectionCheck,
    ConnectorContext,
    OAuthPreset,
    RemoteAccount,
)
from ...provisioning.errors import AlreadyExists, ConnectorError, InvalidResponse, PermanentError
from .http import HttpResponse, raise_for_status, send

#: Where the Directory API answers; the ``api_base`` setting overrides it (tests, proxies
#: that rewrite hosts).
API_BASE = "https://admin.googleapis.com"
USERS = "/admin/directory/v1/users"
#: The scopes this connector needs, least first: discovery alone needs only the first.
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.user",
)
GMAIL_BASE = "https://gmail.googleapis.com"
GMAIL_SETTINGS_SCOPE = "https://www.googleapis.com/auth/gmail.settings.basic"
#: ``users.list`` returns at most this many users a page.
MAX_PAGE = 500
MAX_PAGES = 10_000
#: Google's "never signed in".
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class GoogleWorkspaceConnector:
    name: ClassVar[str] = "google_workspace"
    display_name: ClassVar[str] = "Google Workspace"
    capabilities: ClassVar[Capability] = Capability.DISCOVER | LIFECYCLE
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset(
        {
            "oauth2_authorization_code",
            "oauth2_client_credentials",
            "bearer_token",
            "service_account",
        }
    )
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "email"
    address_setting: ClassVar[str | None] = None
    #: What a service account's domain-wide delegation must grant (Admin console >
    #: Security > API controls): the users, and each user's Gmail settings.
    delegated_scopes: ClassVar[tuple[str, ...]] = (SCOPES[1], GMAIL_SETTINGS_SCOPE)
    oauth_preset: ClassVar[OAuthPreset | None] = OAuthPreset(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        (SCOPES[1],),
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
        base = str(ctx.settings.get("api_base") or API_BASE).rstrip("/")
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
        raise_for_status(resp, what)
        data = resp.json()
        if not isinstance(data, dict):
            raise InvalidResponse(f"{what}: expected a JSON object", status=resp.status)
        return data

    def _customer(self, ctx: ConnectorContext) -> str:
        return str(ctx.settings.get("customer") or "my_customer")

    def _user(self, ctx: ConnectorContext, key: str) -> RemoteAccount | None:
        resp = self._call(ctx, "GET", f"{USERS}/{quote(key, safe='@')}")
        if resp.status == 404:
            return None
        return to_account(self._object(resp, "reading a user"))

    # -- the interface --------------------------------------------------------------------

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            self._object(
                self._call(
                    ctx, "GET", USERS, query={"customer": self._customer(ctx), "maxResults": 1}
                ),
                "listing users",
            )
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        return ConnectionCheck(True, "connected", self._customer(ctx))

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 100
    ) -> Iterator[RemoteAccount]:
        query: dict[str, Any] = {
            "customer": self._customer(ctx),
            "maxResults": max(1, min(MAX_PAGE, int(ctx.settings.get("page_size") or page_size))),
            "orderBy": "email",
            "projection": "basic",
        }
        for _ in range(MAX_PAGES):
            data = self._object(self._call(ctx, "GET", USERS, query=query), "listing users")
            users = data.get("users", [])
            if not isinstance(users, list):
                raise InvalidResponse("listing users: 'users' is not a list")
            for item in users:
                if not isinstance(item, dict):
                    raise InvalidResponse("listing users: a user is not an object")
                yield to_account(item)
            token = data.get("nextPageToken")
            if not token:
                return
            if not isinstance(token, str):
                raise InvalidResponse("listing users: nextPageToken is not a string")
            query["pageToken"] = token
        raise InvalidResponse(f"listing users: more than {MAX_PAGES} pages; stopped")

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None:
        if ref.remote_id:
            found = self._user(ctx, ref.remote_id)
            if found is not None or not ref.account_id:
                return found
        assert ref.account_id is not None
        return self._user(ctx, ref.account_id)

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None:
        for key in (account_id, email):
            if key:
                found = self._user(ctx, key)
                if found is not None:
                    return found
        if external_id:
            query = {
                "customer": self._customer(ctx),
                "query": f"externalId='{external_id}'",
                "maxResults": 2,
            }
            data = self._object(self._call(ctx, "GET", USERS, query=query), "searching users")
            users = data.get("users") or []
            if isinstance(users, list) and users and isinstance(users[0], dict):
                return to_account(users[0])
        return None

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        mail_auth = self._mail_auth(ctx, spec)
        body: dict[str, Any] = {
            "primaryEmail": spec.account_id,
            "name": _name(spec),
            # Required by users.insert; people sign in through the IdP (SSO), and the
            # password is never stored or shown: only its change at first sign-in.
            "password": secrets.token_urlsafe(24),
            "changePasswordAtNextLogin": True,
            "suspended": not spec.active,
        }
        if spec.external_id:
            body["externalIds"] = [{"value": spec.external_id, "type": "organization"}]
        org_unit = ctx.settings.get("org_unit_path")
        if isinstance(org_unit, str) and org_unit:
            body["orgUnitPath"] = org_unit
        resp = self._call(ctx, "POST", USERS, body=body)
        if resp.status == 409:
            raise AlreadyExists(
                f"a user '{spec.account_id}' already exists",
                existing=self._user(ctx, spec.account_id),
            )
        created = to_account(self._object(resp, "creating a user"))
        self._mail_proxy(ctx, mail_auth, created.login, spec)
        return created

    def update_account(
        self,
        ctx: ConnectorContext,
        ref: AccountRef,
        desired: AccountSpec,
        *,
        idempotency_key: str,
    ) -> RemoteAccount:
        mail_auth = self._mail_auth(ctx, desired)
        current = self.get_account(ctx, ref)
        if current is None:
            raise PermanentError(f"no user '{ref.account_id or ref.remote_id}' to update")
        self._mail_proxy(ctx, mail_auth, current.login, desired)
        changes: dict[str, Any] = {}
        name = _name(desired)
        wanted = (name["givenName"], name["familyName"], name.get("displayName"))
        shown = current.display_name if "displayName" in name else None
        if (current.given_name, current.family_name, shown) != wanted:
            changes["name"] = name
        if desired.external_id and desired.external_id != current.external_id:
            changes["externalIds"] = [{"value": desired.external_id, "type": "organization"}]
        if desired.active != current.active:
            changes["suspended"] = not desired.active
        org_unit = ctx.settings.get("org_unit_path")
        if isinstance(org_unit, str) and org_unit and current.raw.get("orgUnitPath") != org_unit:
            changes["orgUnitPath"] = org_unit
        if not changes:
            return current
        return self._patch(ctx, current.remote_id, changes, "updating a user")

    # -- Gmail: POP and IMAP (mailProxyActive) ----------------------------------------------

    def _mail_auth(self, ctx: ConnectorContext, spec: AccountSpec) -> Any:
        """What acts as the user for Gmail, when the spec asks for a POP/IMAP state:
        checked before anything is written, so a job cannot half-apply."""
        if not isinstance(spec.extras.get("mail_proxy_active"), bool):
            return None
        as_user = getattr(ctx.auth, "as_user", None)
        if as_user is None:
            raise PermanentError(
                "mailProxyActive is set for this account, and Gmail's per-user settings "
                "need a service account with domain-wide delegation (credential kind "
                "google_service_account, scope gmail.settings.basic); store one, or clear "
                "mailProxyActive"
            )
        return as_user

    def _mail_proxy(
        self, ctx: ConnectorContext, as_user: Any, email: str, spec: AccountSpec
    ) -> None:
        if as_user is None:
            return
        on = bool(spec.extras["mail_proxy_active"])
        auth = as_user(email, (GMAIL_SETTINGS_SCOPE,))
        user_ctx = ConnectorContext(
            ctx.organization_id,
            ctx.integration_id,
            ctx.settings,
            auth,
            timeout=ctx.timeout,
            max_response_bytes=ctx.max_response_bytes,
        )
        wanted = {
            "pop": {"accessWindow": "allMail" if on else "disabled", "disposition": "leaveInInbox"},
            "imap": {"enabled": on},
        }
        for name, settings in wanted.items():
            path = f"/gmail/v1/users/me/settings/{name}"
            current = self._object(self._gmail(user_ctx, "GET", path), f"reading {name}")
            if name == "pop":
                same = (current.get("accessWindow") == "disabled") == (not on)
            else:
                same = bool(current.get("enabled")) == on
            if not same:
                raise_for_status(
                    self._gmail(user_ctx, "PUT", path, body=settings), f"setting {name}"
                )

    def _gmail(
        self, ctx: ConnectorContext, method: str, path: str, body: Any = None
    ) -> HttpResponse:
        base = str(ctx.settings.get("gmail_api_base") or GMAIL_BASE).rstrip("/")
        return send(
            method,
            base + path,
            auth=ctx.auth,
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            json_body=body,
        )

    def _patch(
        self, ctx: ConnectorContext, key: str, changes: dict[str, Any], what: str
    ) -> RemoteAccount:
        resp = self._call(ctx, "PATCH", f"{USERS}/{quote(key, safe='@')}", body=changes)
        return to_account(self._object(resp, what))

    def _set_suspended(
        self, ctx: ConnectorContext, ref: AccountRef, suspended: bool
    ) -> RemoteAccount | None:
        current = self.get_account(ctx, ref)
        if current is None:
            return None
        if current.active != suspended:  # already as wanted
            return current
        return self._patch(ctx, current.remote_id, {"suspended": suspended}, "suspending a user")

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_suspended(ctx, ref, True)

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_suspended(ctx, ref, False)

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        key = ref.remote_id or ref.account_id
        assert key is not None
        resp = self._call(ctx, "DELETE", f"{USERS}/{quote(key, safe='@')}")
        if resp.status == 404:
            return
        raise_for_status(resp, "deleting a user")


def _name(spec: AccountSpec) -> dict[str, str]:
    """users.insert requires both names; a missing one falls back to what is known.
    ``displayName`` is the name Google shows (``fullName`` is built from the two)."""
    local = spec.account_id.split("@", 1)[0]
    given = spec.given_name or spec.display_name or local
    family = spec.family_name or spec.display_name or local
    name = {"givenName": given[:60], "familyName": family[:60]}
    if spec.display_name:
        name["displayName"] = spec.display_name[:256]
    return name


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None if moment <= _NEVER else moment


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_account(doc: dict[str, Any]) -> RemoteAccount:
    """A Directory API ``User`` as a :class:`RemoteAccount`, checking what it reads."""
    id_ = doc.get("id")
    email = doc.get("primaryEmail")
    if not isinstance(id_, str) or not id_ or not isinstance(email, str) or not email:
        raise InvalidResponse("a user without an id or a primaryEmail")
    raw_name = doc.get("name")
    name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
    external = [
        e.get("value")
        for e in (doc.get("externalIds") or [])
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    ]
    inactive = doc.get("suspended") is True or doc.get("archived") is True
    return RemoteAccount(
        remote_id=id_,
        login=email,
        email=email,
        display_name=_text(name.get("displayName")) or _text(name.get("fullName")),
        given_name=_text(name.get("givenName")),
        family_name=_text(name.get("familyName")),
        external_id=external[0] if external else None,
        status="suspended" if inactive else "active",
        last_access=_time(doc.get("lastLoginTime")),
        raw={k: v for k, v in doc.items() if k != "password"},
    )
