"""``scim2``: outbound SCIM 2.0 to any service provider (RFC 7643, RFC 7644).

Settings: ``base_url`` (the tenant URL, e.g. ``https://idp.example/scim/v2``), optional
``page_size`` (discovery, default 100) and ``patch`` (``false``: never send PATCH).
Auth: a SCIM bearer token, an OAuth access token, an API key or Basic.

Users are matched by ``userName`` (the account id), then by ``emails.value``, then by
``externalId``; a server that refuses the filter (400, 501) is searched by paging
``/Users`` instead. Deactivation is ``PATCH active=false`` (what Okta sends); a server
that refuses that PATCH (400, 405, 501), or the setting ``patch=false``, gets a PUT of
the whole user with ``active`` changed. Updates GET the user, change only the mapped
attributes and PUT the result, so attributes we do not manage survive, and an update
that changes nothing writes nothing. Every answer is checked before use: a response
with the wrong shape is an :class:`~.errors.InvalidResponse`, never a crash. Tested
against our own service and against scim2-server (python-scim) as separate processes.

What a particular service does differently (no filter on some attributes, a capped page,
another PATCH form, no reversible deactivation, required attributes) is the class's
:class:`~.scim_profiles.ScimProfile`: :data:`~.scim_profiles.RFC` here, one declaration
per service in :mod:`.scim_catalog`, whose connectors are this class with another profile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
    RemoteAccount,
)
from ...provisioning.errors import (
    AlreadyExists,
    ConnectorError,
    InvalidData,
    InvalidResponse,
    PermanentError,
    UnsupportedOperation,
)
from .http import HttpResponse, raise_for_status, send
from .scim_profiles import RFC, SEARCH_ATTRIBUTES, ScimProfile

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"
#: Discovery stops after this many pages whatever the server claims (a loop guard).
MAX_PAGES = 100_000
#: Answers to ``PATCH active`` after which the connector falls back to a PUT.
PATCH_REFUSED = frozenset({400, 405, 501})
#: Answers to a filtered ``GET /Users`` meaning "no such filter here": scan instead.
FILTER_REFUSED = frozenset({400, 501})


class Scim2Connector:
    name: ClassVar[str] = "scim2"
    display_name: ClassVar[str] = "SCIM 2.0"
    capabilities: ClassVar[Capability] = Capability.DISCOVER | LIFECYCLE
    auth_methods: ClassVar[frozenset[AuthMethod]] = frozenset(
        {
            "scim_bearer",
            "bearer_token",
            "oauth2_client_credentials",
            "oauth2_authorization_code",
            "api_key",
            "basic",
        }
    )
    requires_local_login: ClassVar[bool] = False
    account_id_attribute: ClassVar[str] = "login"
    address_setting: ClassVar[str | None] = "base_url"
    #: How the service differs from RFC 7644 (:mod:`.scim_profiles`).
    profile: ClassVar[ScimProfile] = RFC

    # -- plumbing -----------------------------------------------------------------------

    def _url(self, ctx: ConnectorContext, path: str, query: Mapping[str, Any] | None = None) -> str:
        base = ctx.settings.get("base_url") or self.profile.fixed_address
        if not isinstance(base, str) or not base.startswith(("http://", "https://")):
            raise PermanentError("the scim2 connector needs a base_url setting (http or https)")
        url = base.rstrip("/") + path
        return f"{url}?{urlencode(query)}" if query else url

    def _call(
        self,
        ctx: ConnectorContext,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> HttpResponse:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return send(
            method,
            self._url(ctx, path, query),
            auth=ctx.auth,
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            json_body=body,
            headers=headers,
            content_type=SCIM_JSON,
        )

    def _object(self, resp: HttpResponse, what: str) -> dict[str, Any]:
        raise_for_status(resp, what)
        data = resp.json()
        if not isinstance(data, dict):
            raise InvalidResponse(f"{what}: expected a JSON object", status=resp.status)
        return data

    def _search(self, ctx: ConnectorContext, attribute: str, value: str) -> RemoteAccount | None:
        if attribute == "emails.value" and self.profile.login_attribute == "email":
            # The service's userName is the email address: search that instead.
            attribute = "userName"
        if not self.profile.filters(attribute):
            return self._scan(ctx, {attribute: value})
        resp = self._call(
            ctx,
            "GET",
            "/Users",
            query={"filter": f"{attribute} eq {json.dumps(value)}", "count": 2},
        )
        if resp.status in FILTER_REFUSED:
            # No (or not this) filter support: read the listing and compare ourselves.
            return self._scan(ctx, {attribute: value})
        found = _resources(self._object(resp, "searching users"))
        return to_account(found[0]) if found else None

    def _scan(self, ctx: ConnectorContext, wanted: Mapping[str, str]) -> RemoteAccount | None:
        """The first listed account matching any of ``wanted`` (attribute -> value),
        in the order of :data:`SEARCH_ATTRIBUTES`: one read of the listing for all."""
        best: tuple[int, RemoteAccount] | None = None
        for account in self.iter_accounts(ctx):
            for rank, attribute in enumerate(SEARCH_ATTRIBUTES):
                value = wanted.get(attribute)
                if value and value.lower() in _values(account, attribute):
                    if rank == 0:
                        return account
                    if best is None or rank < best[0]:
                        best = (rank, account)
        return best[1] if best else None

    # -- the interface --------------------------------------------------------------------

    def test_connection(self, ctx: ConnectorContext) -> ConnectionCheck:
        try:
            data = self._object(
                self._call(ctx, "GET", "/Users", query={"count": 1}), "listing users"
            )
            _resources(data)
        except ConnectorError as exc:
            return ConnectionCheck(False, exc.message)
        return ConnectionCheck(True, "connected", str(ctx.settings.get("base_url")))

    def iter_accounts(
        self, ctx: ConnectorContext, *, page_size: int = 100
    ) -> Iterator[RemoteAccount]:
        size = self.profile.page_size(int(ctx.settings.get("page_size") or page_size))
        start = 1
        for _ in range(MAX_PAGES):
            data = self._object(
                self._call(ctx, "GET", "/Users", query={"startIndex": start, "count": size}),
                "listing users",
            )
            page = _resources(data)
            for item in page:
                yield to_account(item)
            total = data.get("totalResults")
            if not isinstance(total, int) or isinstance(total, bool):
                raise InvalidResponse("listing users: totalResults is not an integer")
            start += len(page)
            if not page or start > total:
                return
        raise InvalidResponse(f"listing users: more than {MAX_PAGES} pages; stopped")

    def get_account(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount | None:
        if ref.remote_id:
            resp = self._call(ctx, "GET", f"/Users/{quote(ref.remote_id, safe='')}")
            if resp.status == 404:
                return None if not ref.account_id else self._by_login(ctx, ref.account_id)
            return to_account(self._object(resp, "reading a user"))
        assert ref.account_id is not None
        return self._by_login(ctx, ref.account_id)

    def _by_login(self, ctx: ConnectorContext, login: str) -> RemoteAccount | None:
        return self._search(ctx, "userName", login)

    def find_account(
        self,
        ctx: ConnectorContext,
        *,
        account_id: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
    ) -> RemoteAccount | None:
        unfiltered: dict[str, str] = {}
        for attribute, value in zip(
            SEARCH_ATTRIBUTES, (account_id, email, external_id), strict=True
        ):
            if not value:
                continue
            by_login = attribute == "emails.value" and self.profile.login_attribute == "email"
            searched = "userName" if by_login else attribute
            if not self.profile.filters(searched):
                unfiltered[attribute] = value
                continue
            found = self._search(ctx, attribute, value)
            if found is not None:
                return found
        # What the service cannot filter on is looked for in one read of the listing.
        return self._scan(ctx, unfiltered) if unfiltered else None

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        body = self._complete(apply_spec({"schemas": [USER_SCHEMA]}, spec))
        resp = self._call(ctx, "POST", "/Users", body=body, idempotency_key=idempotency_key)
        if resp.status == 409:
            existing = self._by_login(ctx, spec.account_id)
            raise AlreadyExists(
                f"'{spec.account_id}' already exists on the SCIM service", existing=existing
            )
        return to_account(self._object(resp, "creating a user"))

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        current = self._require(ctx, ref)
        document = dict(current.raw)
        wanted = apply_spec(dict(document), desired)
        if wanted == document:
            return current
        return self._put(ctx, current, self._complete(wanted), idempotency_key)

    def _complete(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with the profile's required attributes derived where they can be
        (``displayName`` from the name, ``emails`` from an email-shaped login); an
        attribute still missing, or a value too long, is refused before sending."""
        required = self.profile.required_attributes
        name = doc.get("name")
        name = name if isinstance(name, dict) else {}
        if "displayName" in required and not doc.get("displayName"):
            parts = [name.get("givenName"), name.get("familyName")]
            doc["displayName"] = " ".join(p for p in parts if p) or doc.get("userName")
        login = str(doc.get("userName") or "")
        if "emails" in required and not doc.get("emails") and "@" in login:
            doc["emails"] = [{"value": login, "type": "work", "primary": True}]
        for attribute in required:
            if not _attribute(doc, attribute):
                raise InvalidData(
                    f"{self.profile.display_name} requires {attribute}; the user has none",
                    field=attribute,
                )
        for attribute, longest in self.profile.max_lengths.items():
            value = _attribute(doc, attribute)
            if isinstance(value, str) and len(value) > longest:
                raise InvalidData(
                    f"{self.profile.display_name} accepts at most {longest} characters "
                    f"in {attribute}",
                    field=attribute,
                )
        return doc

    def _put(
        self, ctx: ConnectorContext, current: RemoteAccount, document: dict[str, Any], key: str
    ) -> RemoteAccount:
        document = {k: v for k, v in document.items() if k != "meta"}
        resp = self._call(
            ctx,
            "PUT",
            f"/Users/{quote(current.remote_id, safe='')}",
            body=document,
            idempotency_key=key,
        )
        if resp.status == 204:  # some servers answer PUT with no body
            return self._require(ctx, AccountRef(remote_id=current.remote_id))
        return to_account(self._object(resp, "updating a user"))

    def _require(self, ctx: ConnectorContext, ref: AccountRef) -> RemoteAccount:
        current = self.get_account(ctx, ref)
        if current is None:
            raise PermanentError(
                f"the account {ref.account_id or ref.remote_id!r} is not on the SCIM service"
            )
        return current

    def _set_active(
        self, ctx: ConnectorContext, ref: AccountRef, active: bool, key: str
    ) -> RemoteAccount | None:
        current = self.get_account(ctx, ref)
        if current is None or current.active == active:
            return current
        no_patch = str(ctx.settings.get("patch", "true")).lower() in ("false", "0", "no", "off")
        if no_patch or self.profile.patch == "none":
            return self._put(ctx, current, {**current.raw, "active": active}, key)
        operation: dict[str, Any] = {"op": "replace", "value": {"active": active}}
        if self.profile.patch == "path":
            operation = {"op": "replace", "path": "active", "value": active}
        body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        resp = self._call(
            ctx,
            "PATCH",
            f"/Users/{quote(current.remote_id, safe='')}",
            body=body,
            idempotency_key=key,
        )
        if resp.status in PATCH_REFUSED:
            # No PATCH (405/501), or a PATCH dialect the server refuses (400): send the
            # whole user back with ``active`` changed instead.
            return self._put(ctx, current, {**current.raw, "active": active}, key)
        if resp.status == 404:
            return None
        if resp.status == 204:
            return self.get_account(ctx, AccountRef(remote_id=current.remote_id))
        return to_account(self._object(resp, "changing active"))

    def deactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        if self.profile.deactivate == "delete":
            # No reversible deactivation on this service: deactivating removes it.
            self.delete_account(ctx, ref, idempotency_key=idempotency_key)
            return None
        return self._set_active(ctx, ref, False, idempotency_key)

    def reactivate_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> RemoteAccount | None:
        if self.profile.deactivate == "delete":
            raise UnsupportedOperation(f"{self.profile.display_name} cannot reactivate a user")
        return self._set_active(ctx, ref, True, idempotency_key)

    def delete_account(
        self, ctx: ConnectorContext, ref: AccountRef, *, idempotency_key: str
    ) -> None:
        if self.profile.delete == "none":
            raise UnsupportedOperation(f"{self.profile.display_name} has no DELETE of a user")
        current = self.get_account(ctx, ref)
        if current is None:
            return
        resp = self._call(
            ctx,
            "DELETE",
            f"/Users/{quote(current.remote_id, safe='')}",
            idempotency_key=idempotency_key,
        )
        if resp.status != 404:
            raise_for_status(resp, "deleting a user")


def _resources(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = data.get("Resources", [])
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise InvalidResponse("a ListResponse's Resources must be a list of objects")
    return found


def _values(account: RemoteAccount, attribute: str) -> list[str]:
    """The account's values of a search attribute, lowercased."""
    if attribute == "userName":
        return [account.login.lower()]
    if attribute == "externalId":
        return [(account.external_id or "").lower()]
    emails = account.raw.get("emails") or []
    return [str(e.get("value", "")).lower() for e in emails if isinstance(e, dict)]


def _attribute(doc: Mapping[str, Any], dotted: str) -> Any:
    """``doc``'s value at ``name`` or ``name.givenName`` (``None`` when absent)."""
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise InvalidResponse(f"the user's {name} must be a string")
    return value


def to_account(doc: dict[str, Any]) -> RemoteAccount:
    """A SCIM User document as a :class:`RemoteAccount`, checking every type."""
    name = doc.get("name") or {}
    if not isinstance(name, dict):
        raise InvalidResponse("the user's name must be an object")
    active = doc.get("active", True)
    if not isinstance(active, bool):
        raise InvalidResponse("the user's active must be a boolean")
    emails = doc.get("emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise InvalidResponse("the user's emails must be a list of objects")
    primary = [e for e in emails if e.get("primary") is True] or emails
    email = _text(primary[0].get("value"), "email") if primary else None
    raw = {k: v for k, v in doc.items() if k != "password"}
    return RemoteAccount(
        remote_id=str(_text(doc.get("id"), "id", required=True)),
        login=str(_text(doc.get("userName"), "userName", required=True)),
        email=email,
        display_name=_text(doc.get("displayName"), "displayName"),
        given_name=_text(name.get("givenName"), "name.givenName"),
        family_name=_text(name.get("familyName"), "name.familyName"),
        external_id=_text(doc.get("externalId"), "externalId"),
        status="active" if active else "suspended",
        raw=raw,
    )


def apply_spec(doc: dict[str, Any], spec: AccountSpec) -> dict[str, Any]:
    """``doc`` with the attributes we manage set from ``spec`` (others untouched)."""
    doc["userName"] = spec.account_id
    doc["active"] = spec.active
    if spec.given_name is not None or spec.family_name is not None:
        name = dict(doc.get("name") or {})
        if spec.given_name is not None:
            name["givenName"] = spec.given_name
        if spec.family_name is not None:
            name["familyName"] = spec.family_name
        doc["name"] = name
    if spec.display_name is not None:
        doc["displayName"] = spec.display_name
    if spec.external_id is not None:
        doc["externalId"] = spec.external_id
    if spec.email is not None:
        emails = [e for e in doc.get("emails") or [] if isinstance(e, dict)]
        values = [str(e.get("value", "")).lower() for e in emails]
        if spec.email.lower() not in values:
            emails = [{"value": spec.email, "type": "work", "primary": True}]
        doc["emails"] = emails
    return doc
