"""``microsoft_365``: users of a Microsoft 365 tenant through Microsoft Graph (v1.0).

What each action does there (docs/connectors/microsoft-365.md):

* discover: ``GET /users`` with ``$select`` and ``$top=999``, following
  ``@odata.nextLink``; ``signInActivity.lastSignInDateTime`` becomes the account's last
  access where the tenant's licence allows reading it (Entra ID P1 or P2 and the
  ``AuditLog.Read.All`` permission). Without, Graph refuses the whole request (403):
  the listing is read again without it and the run notes why the times are blank.
* create: ``POST /users`` with the user principal name (the account ID), the names, a
  mail nickname, the usage location and a random password to change at first sign-in;
  ``onPremisesImmutableId`` from the service-account CSV's ``immutableId``. A taken
  name (Graph answers 400 "Another object with the same value ... already exists") is
  :class:`~scimcore.provisioning.errors.AlreadyExists`.
* update: ``PATCH /users/{id}`` of what differs; deactivate and reactivate:
  ``accountEnabled`` false or true; delete: ``DELETE /users/{id}``.
* licences: the account's ``licenseProfile`` names a set of SKUs (the integration's
  ``license_skus`` setting: ``E3=SPE_E3+POWER_BI_PRO;E5=SPE_E5``), resolved to SKU ids
  through ``GET /subscribedSkus`` (an unknown part number fails the job, naming it)
  and applied with ``POST /users/{id}/assignLicense``: the profile's SKUs added, the
  other profiles' SKUs the user holds removed; SKUs no profile names are left alone.
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
from ...provisioning.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConnectorError,
    InvalidResponse,
    PermanentError,
)
from .http import HttpResponse, raise_for_status, send

API_BASE = "https://graph.microsoft.com"
FIELDS = (
    "id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,"
    "onPremisesImmutableId,usageLocation,assignedLicenses"
)
SIGN_IN = "signInActivity"
MAX_PAGES = 10_000
#: Graph's answer when a tenant cannot read sign-in activity (no Entra ID P1/P2).
_NO_PREMIUM = "premium license"
NO_AUDIT_PERMISSION = (
    "last sign-in times are not available: the app has no AuditLog.Read.All permission "
    "(grant it, with admin consent, to read signInActivity)"
)
NO_SIGN_IN_TIMES = (
    "last sign-in times are not available: Microsoft Graph reads signInActivity only "
    "for tenants with Entra ID P1 or P2 (and the AuditLog.Read.All permission)"
)


class Microsoft365Connector:
    name: ClassVar[str] = "microsoft_365"
    display_name: ClassVar[str] = "Microsoft 365"
    capabilities: ClassVar[Capability] = Capability.DISCOVER | LIFECYCLE | Capability.LICENSES
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset(
        {"oauth2_client_credentials", "oauth2_authorization_code", "bearer_token"}
    )
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "login"
    address_setting: ClassVar[str | None] = None
    #: The tenant's endpoints (the ``tenant_id`` setting: its id or a verified domain);
    #: ``.default`` asks for the application permissions granted by admin consent.
    oauth_preset: ClassVar[OAuthPreset | None] = OAuthPreset(
        "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
        ("https://graph.microsoft.com/.default",),
        "https://login.microsoftonline.com/{tenant_id}/adminconsent",
    )

    # -- plumbing -----------------------------------------------------------------------

    def _url(self, ctx: ConnectorContext, path: str, query: Mapping[str, Any] | None) -> str:
        base = str(ctx.settings.get("api_base") or API_BASE).rstrip("/")
        return base + "/v1.0" + path + (f"?{urlencode(query)}" if query else "")

    def _call(
        self,
        ctx: ConnectorContext,
        method: str,
        path_or_url: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> HttpResponse:
        url = path_or_url if "://" in path_or_url else self._url(ctx, path_or_url, query)
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

    def _user(self, ctx: ConnectorContext, key: str) -> RemoteAccount | None:
        resp = self._call(ctx, "GET", f"/users/{quote(key, safe='@')}", query={"$select": FIELDS})
        if resp.status == 404:
            return None
        return to_account(self._object(resp, "reading a user"))

    # -- the interface --------------------------------------------------------------------

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            self._object(
                self._call(ctx, "GET", "/users", query={"$select": "id", "$top": 1}),
                "listing users",
            )
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        return ConnectionCheck(True, "connected")

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 999
    ) -> Iterator[RemoteAccount]:
        top = max(1, min(999, int(ctx.settings.get("page_size") or page_size)))
        query = {"$select": f"{FIELDS},{SIGN_IN}", "$top": top}
        resp = self._call(ctx, "GET", "/users", query=query)
        if resp.status == 403:
            # Sign-in times need Entra ID P1/P2 and AuditLog.Read.All; without either,
            # Graph refuses the whole listing: list without them, and say why.
            premium = _NO_PREMIUM in resp.body.decode("utf-8", "replace")
            ctx.notes.append(NO_SIGN_IN_TIMES if premium else NO_AUDIT_PERMISSION)
            resp = self._call(ctx, "GET", "/users", query={"$select": FIELDS, "$top": top})
        for _ in range(MAX_PAGES):
            data = self._object(resp, "listing users")
            page = data.get("value")
            if not isinstance(page, list):
                raise InvalidResponse("listing users: 'value' is not a list")
            for item in page:
                if not isinstance(item, dict):
                    raise InvalidResponse("listing users: a user is not an object")
                yield to_account(item)
            link = data.get("@odata.nextLink")
            if not link:
                return
            if not isinstance(link, str):
                raise InvalidResponse("listing users: @odata.nextLink is not a string")
            resp = self._call(ctx, "GET", link)
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
        if account_id:
            found = self._user(ctx, account_id)
            if found is not None:
                return found
        if email:
            query = {"$filter": f"mail eq '{_quote(email)}'", "$select": FIELDS, "$top": 1}
            data = self._object(self._call(ctx, "GET", "/users", query=query), "searching")
            page = data.get("value") or []
            if isinstance(page, list) and page and isinstance(page[0], dict):
                return to_account(page[0])
        return None

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        body: dict[str, Any] = {
            "accountEnabled": spec.active,
            "displayName": _display(spec),
            "mailNickname": _nickname(spec.account_id),
            "userPrincipalName": spec.account_id,
            "usageLocation": str(ctx.settings.get("usage_location") or "JP"),
            # Required by Graph; people sign in through the IdP, and the password is
            # never stored or shown: only its change at first sign-in.
            "passwordProfile": {
                "forceChangePasswordNextSignIn": True,
                "password": _password(),
            },
        }
        if spec.given_name:
            body["givenName"] = spec.given_name
        if spec.family_name:
            body["surname"] = spec.family_name
        immutable = spec.extras.get("immutable_id")
        if isinstance(immutable, str) and immutable:
            body["onPremisesImmutableId"] = immutable
        resp = self._call(ctx, "POST", "/users", body=body)
        if resp.status == 400 and b"already exists" in resp.body:
            raise AlreadyExists(
                f"a user '{spec.account_id}' already exists",
                existing=self._user(ctx, spec.account_id),
            )
        created = to_account(self._object(resp, "creating a user"))
        return self._licences(ctx, created, spec)

    def update_account(
        self,
        ctx: ConnectorContext,
        ref: AccountRef,
        desired: AccountSpec,
        *,
        idempotency_key: str,
    ) -> RemoteAccount:
        current = self.get_account(ctx, ref)
        if current is None:
            raise PermanentError(f"no user '{ref.account_id or ref.remote_id}' to update")
        changes: dict[str, Any] = {}
        if _display(desired) != current.display_name:
            changes["displayName"] = _display(desired)
        if desired.given_name and desired.given_name != current.given_name:
            changes["givenName"] = desired.given_name
        if desired.family_name and desired.family_name != current.family_name:
            changes["surname"] = desired.family_name
        if desired.active != current.active:
            changes["accountEnabled"] = desired.active
        immutable = desired.extras.get("immutable_id")
        if isinstance(immutable, str) and immutable != current.raw.get("onPremisesImmutableId"):
            changes["onPremisesImmutableId"] = immutable
        if changes:
            self._patch(ctx, current.remote_id, changes, "updating a user")
            current = self._user(ctx, current.remote_id) or current
        return self._licences(ctx, current, desired)

    def _patch(self, ctx: ConnectorContext, id_: str, changes: dict[str, Any], what: str) -> None:
        resp = self._call(ctx, "PATCH", f"/users/{quote(id_, safe='')}", body=changes)
        raise_for_status(resp, what)

    def _set_enabled(
        self, ctx: ConnectorContext, ref: AccountRef, enabled: bool
    ) -> RemoteAccount | None:
        current = self.get_account(ctx, ref)
        if current is None:
            return None
        if current.active == enabled:
            return current
        self._patch(ctx, current.remote_id, {"accountEnabled": enabled}, "enabling a user")
        return self._user(ctx, current.remote_id)

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_enabled(ctx, ref, False)

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        return self._set_enabled(ctx, ref, True)

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        key = ref.remote_id or ref.account_id
        assert key is not None
        resp = self._call(ctx, "DELETE", f"/users/{quote(key, safe='@')}")
        if resp.status == 404:
            return
        raise_for_status(resp, "deleting a user")

    # -- licences -----------------------------------------------------------------------

    def _licences(
        self, ctx: ConnectorContext, account: RemoteAccount, spec: AccountSpec
    ) -> RemoteAccount:
        profiles = license_profiles(ctx.settings.get("license_skus"))
        profile = spec.extras.get("license_profile")
        if not profiles or not isinstance(profile, str) or not profile:
            return account
        if profile not in profiles:
            raise PermanentError(
                f"license profile '{profile}' has no SKUs in the integration's license_skus "
                f"setting (profiles: {', '.join(sorted(profiles)) or 'none'})"
            )
        ids = self._sku_ids(ctx)
        missing = sorted({p for parts in profiles.values() for p in parts} - ids.keys())
        if missing:
            raise PermanentError(
                f"the tenant has no subscription for SKU part number(s) {', '.join(missing)} "
                "(see GET /subscribedSkus)"
            )
        wanted = {ids[p] for p in profiles[profile]}
        managed = {ids[p] for parts in profiles.values() for p in parts}
        held = _assigned(account)
        add = sorted(wanted - held)
        remove = sorted((managed - wanted) & held)
        if not add and not remove:
            return account
        body = {
            "addLicenses": [{"skuId": sku, "disabledPlans": []} for sku in add],
            "removeLicenses": remove,
        }
        resp = self._call(
            ctx, "POST", f"/users/{quote(account.remote_id, safe='')}/assignLicense", body=body
        )
        return to_account(self._object(resp, "assigning licences"))

    def _sku_ids(self, ctx: ConnectorContext) -> dict[str, str]:
        resp = self._call(ctx, "GET", "/subscribedSkus", query={"$select": "skuId,skuPartNumber"})
        if resp.status == 403:
            raise AuthenticationFailed(
                "reading the tenant's subscriptions (GET /subscribedSkus) was refused: grant "
                "the app Organization.Read.All",
                status=403,
            )
        data = self._object(resp, "reading subscriptions")
        out: dict[str, str] = {}
        for item in data.get("value") or []:
            if isinstance(item, dict):
                part, sku = item.get("skuPartNumber"), item.get("skuId")
                if isinstance(part, str) and isinstance(sku, str):
                    out[part] = sku
        return out


def license_profiles(value: Any) -> dict[str, tuple[str, ...]]:
    """The ``license_skus`` setting: a mapping, or ``E3=SPE_E3+POWER_BI_PRO;E5=SPE_E5``."""
    if isinstance(value, Mapping):
        return {str(k): tuple(str(p) for p in v) for k, v in value.items()}
    if not isinstance(value, str) or not value.strip():
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for item in value.split(";"):
        name, sep, parts = item.partition("=")
        if sep and name.strip():
            out[name.strip()] = tuple(p.strip() for p in parts.split("+") if p.strip())
    return out


def _assigned(account: RemoteAccount) -> set[str]:
    items = account.raw.get("assignedLicenses") or []
    return {str(i["skuId"]) for i in items if isinstance(i, dict) and "skuId" in i}


def _display(spec: AccountSpec) -> str:
    if spec.display_name:
        return spec.display_name
    names = " ".join(n for n in (spec.given_name, spec.family_name) if n)
    return names or spec.account_id.split("@", 1)[0]


def _nickname(upn: str) -> str:
    """mailNickname: the local part, with the characters Graph refuses dropped."""
    local = upn.split("@", 1)[0]
    kept = "".join(c for c in local if c.isascii() and (c.isalnum() or c in "-_.'"))
    return kept[:64] or "user"


def _password() -> str:
    """A password Entra's complexity rules accept (upper, lower, digit, symbol)."""
    return "Aa1!" + secrets.token_urlsafe(24)


def _quote(value: str) -> str:
    """An OData string literal's content: a quote is written twice."""
    return value.replace("'", "''")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_account(doc: dict[str, Any]) -> RemoteAccount:
    """A Graph ``user`` as a :class:`RemoteAccount`, checking what it reads."""
    id_, upn = doc.get("id"), doc.get("userPrincipalName")
    if not isinstance(id_, str) or not id_ or not isinstance(upn, str) or not upn:
        raise InvalidResponse("a user without an id or a userPrincipalName")
    activity = doc.get(SIGN_IN)
    last = activity.get("lastSignInDateTime") if isinstance(activity, dict) else None
    return RemoteAccount(
        remote_id=id_,
        login=upn,
        email=_text(doc.get("mail")),
        display_name=_text(doc.get("displayName")),
        given_name=_text(doc.get("givenName")),
        family_name=_text(doc.get("surname")),
        status="suspended" if doc.get("accountEnabled") is False else "active",
        last_access=_time(last),
        raw=dict(doc),
    )
