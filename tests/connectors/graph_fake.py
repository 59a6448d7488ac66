"""A local Microsoft Graph (v1.0) for the users, licences and subscriptions the
``microsoft_365`` connector uses, held to the Graph REST reference.

The rules come from the reference pages of the calls (user: list, get, create, update,
delete, assignLicense; subscribedSku: list) and of the ``user`` resource:

* paths and methods as listed; OData options per call (``$select`` of ``user``
  properties only, ``$top`` 1-999, ``$filter`` on ``mail``/``userPrincipalName`` with
  ``eq``, ``$skiptoken`` from ``@odata.nextLink``);
* application permissions: reading users needs ``User.Read.All`` (or a broader one),
  writing ``User.ReadWrite.All``; ``signInActivity`` in ``$select`` needs
  ``AuditLog.Read.All`` and a tenant with Entra ID P1/P2, else 403; ``subscribedSkus``
  needs ``Organization.Read.All``; ``assignLicense`` ``LicenseAssignment.ReadWrite.All``
  or ``User.ReadWrite.All``;
* ``POST /users`` requires ``accountEnabled``, ``displayName``, ``mailNickname``,
  ``passwordProfile`` (with ``password``) and ``userPrincipalName`` in a verified domain;
  a taken name is 400 "Another object with the same value for property
  userPrincipalName already exists."; ``PATCH`` and ``DELETE`` answer 204;
* ``assignLicense`` requires ``addLicenses`` and ``removeLicenses``, SKUs the tenant
  subscribes to, and a user with a ``usageLocation``;
* errors in Graph's format (``{"error": {"code", "message"}}``); :meth:`throttle`
  answers 429 with Retry-After.

A request the reference says Graph refuses is answered as Graph answers *and* recorded
in :attr:`violations`, which the tests assert empty.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .fakes import serve

#: The ``user`` properties the connector may read or write (a subset of the resource).
USER_PROPERTIES = frozenset(
    {
        "id", "userPrincipalName", "mail", "displayName", "givenName", "surname",
        "accountEnabled", "onPremisesImmutableId", "usageLocation", "assignedLicenses",
        "signInActivity", "mailNickname", "passwordProfile", "jobTitle", "department",
        "employeeId",
    }
)  # fmt: skip
READ_ONLY = frozenset({"id", "assignedLicenses", "signInActivity", "mail"})
REQUIRED_ON_CREATE = (
    "accountEnabled",
    "displayName",
    "mailNickname",
    "passwordProfile",
    "userPrincipalName",
)
READ_USERS = {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}
WRITE_USERS = {"User.ReadWrite.All", "Directory.ReadWrite.All"}
ASSIGN = {"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
READ_ORG = {"Organization.Read.All", "Directory.Read.All"}

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class GraphFake:
    """One tenant's users and subscriptions; see the module docstring."""

    tokens: dict[str, set[str]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    skus: dict[str, str] = field(default_factory=dict)  # part number -> skuId
    domains: tuple[str, ...] = ("example.com",)
    premium: bool = True
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    #: For tokens not in :attr:`tokens`: the permissions of a token an authorization
    #: server issued (the end-to-end tests' OAuth server), or ``None``.
    authority: Callable[[str], set[str] | None] | None = None
    #: App registrations for the token endpoint: client id -> (secret or None,
    #: certificate public key PEM or None, its x5t or None, the permissions granted).
    apps: dict[str, tuple[str | None, str | None, str | None, set[str]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self._throttled = 0
        self.lock = threading.Lock()
        self._n = itertools.count(1)

    # -- test controls --------------------------------------------------------------------

    def grant(self, token: str, *permissions: str) -> str:
        self.tokens[token] = set(permissions)
        return token

    def subscribe(self, *parts: str) -> None:
        for part in parts:
            self.skus.setdefault(part, str(uuid.uuid5(uuid.NAMESPACE_DNS, part)))

    def add(self, upn: str, **fields: Any) -> dict[str, Any]:
        user = {
            "id": str(uuid.uuid4()),
            "userPrincipalName": upn,
            "mail": upn,
            "displayName": upn.split("@")[0],
            "givenName": None,
            "surname": None,
            "accountEnabled": True,
            "onPremisesImmutableId": None,
            "usageLocation": None,
            "assignedLicenses": [],
            "signInActivity": {"lastSignInDateTime": None},
            **fields,
        }
        self.users[user["id"]] = user
        return user

    def by_upn(self, upn: str) -> dict[str, Any] | None:
        return next(
            (u for u in self.users.values() if u["userPrincipalName"].lower() == upn.lower()),
            None,
        )

    def throttle(self, count: int) -> None:
        self._throttled += count

    # -- the service ----------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        with self.lock:
            return self._handle(method, target, body, headers)

    def _handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        self.requests.append((method, target))
        parts = urlsplit(target)
        if re.fullmatch(r"/[^/]+/oauth2/v2\.0/token", parts.path):
            return self._token(method, parts.path, body)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        granted = self.tokens.get(token)
        if granted is None and self.authority is not None:
            granted = self.authority(token)
        if granted is None:
            return self._refuse(401, "InvalidAuthenticationToken", "Access token is empty.")
        if self._throttled:
            self._throttled -= 1
            return _error(429, "TooManyRequests", "Too many requests.", {"Retry-After": "2"})
        document: Any = None
        if method in ("POST", "PATCH"):
            if not headers.get("content-type", "").startswith("application/json"):
                return self._refuse(415, "BadRequest", "Content-Type must be application/json")
            try:
                document = json.loads(body or b"null")
            except ValueError:
                return self._refuse(400, "BadRequest", "Unable to read JSON request payload.")
        path = parts.path
        if path == "/v1.0/users":
            if method == "GET":
                return self._list(granted, query)
            if method == "POST":
                return self._create(granted, query, document)
        if path == "/v1.0/subscribedSkus" and method == "GET":
            return self._subscribed(granted, query)
        m = re.fullmatch(r"/v1\.0/users/([^/]+)(/assignLicense)?", path)
        if m:
            key = unquote(m.group(1))
            if m.group(2) and method == "POST":
                return self._assign(granted, query, key, document)
            if not m.group(2) and method in ("GET", "PATCH", "DELETE"):
                return getattr(self, f"_{method.lower()}")(granted, query, key, document)
        return self._refuse(
            400, "BadRequest", f"Resource not found for the segment: {method} {path}"
        )

    def _token(self, method: str, path: str, body: bytes) -> Answer:
        """The Microsoft identity platform's client credentials grant (v2.0): a client
        secret, or an assertion signed with the app's certificate (x5t names it)."""
        import jwt

        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if method != "POST" or form.get("grant_type") != "client_credentials":
            return self._aad("unsupported_grant_type", "AADSTS70003: unsupported grant type")
        if form.get("scope") != "https://graph.microsoft.com/.default":
            return self._aad("invalid_scope", "AADSTS1002012: the scope must be .default")
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return self._aad("unauthorized_client", "AADSTS700016: application not found")
        secret, public_key, thumbprint, permissions = app
        assertion = form.get("client_assertion")
        if assertion is not None:
            if (
                form.get("client_assertion_type")
                != ("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                or public_key is None
            ):
                return self._aad("invalid_client", "AADSTS700027: client assertion refused")
            try:
                header = jwt.get_unverified_header(assertion)
                claims = jwt.decode(
                    assertion,
                    public_key,
                    algorithms=["RS256"],
                    audience=f"{self.url}{path}",
                    options={"require": ["aud", "iss", "sub", "exp", "nbf", "jti"]},
                )
            except jwt.PyJWTError as exc:
                return self._aad("invalid_client", f"AADSTS700027: {exc}")
            if header.get("x5t") != thumbprint or not (
                claims["iss"] == claims["sub"] == form["client_id"]
            ):
                return self._aad("invalid_client", "AADSTS700027: unknown certificate")
        elif secret is None or form.get("client_secret") != secret:
            return self._aad("invalid_client", "AADSTS7000215: invalid client secret")
        token = f"eyJ0.{next(self._n)}"
        self.tokens[token] = set(permissions)
        out = {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()

    def _aad(self, error: str, description: str) -> Answer:
        self.violations.append(f"token {error}: {description}")
        status = 401 if error in ("invalid_client", "unauthorized_client") else 400
        body = {"error": error, "error_description": description}
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _refuse(self, status: int, code: str, message: str) -> Answer:
        self.violations.append(f"{status} {code}: {message}")
        return _error(status, code, message)

    def _options(
        self,
        query: dict[str, str],
        allowed: set[str],
        properties: frozenset[str] = USER_PROPERTIES,
    ) -> Answer | None:
        for name in query:
            if name not in allowed:
                return self._refuse(400, "BadRequest", f"Query option '{name}' is not allowed.")
        if "$top" in query and not (query["$top"].isdigit() and 1 <= int(query["$top"]) <= 999):
            return self._refuse(400, "Request_UnsupportedQuery", "Invalid page size specified.")
        for prop in filter(None, query.get("$select", "").split(",")):
            if prop not in properties:
                return self._refuse(400, "BadRequest", f"Could not find a property named '{prop}'.")
        return None

    def _needs(self, granted: set[str], any_of: set[str]) -> Answer | None:
        if granted & any_of:
            return None
        return self._refuse(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )

    def _view(self, user: dict[str, Any], select: str) -> dict[str, Any]:
        keys = select.split(",") if select else ["id", "userPrincipalName", "displayName", "mail"]
        return {k: user.get(k) for k in keys}

    def _list(self, granted: set[str], query: dict[str, str]) -> Answer:
        problem = self._options(query, {"$select", "$top", "$filter", "$skiptoken", "$count"})
        problem = problem or self._needs(granted, READ_USERS)
        if problem:
            return problem
        select = query.get("$select", "")
        if "signInActivity" in select.split(","):
            if "AuditLog.Read.All" not in granted:
                # Graph's answer, not a violation: a connector cannot know in advance.
                return _error(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            if not self.premium:
                # Documented answer for a tenant without Entra ID P1/P2 (not a violation:
                # the connector cannot know in advance, and retries without it).
                return _error(
                    403,
                    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                    "Neither tenant is B2C or tenant doesn't have premium license",
                )
        users = sorted(self.users.values(), key=lambda u: u["userPrincipalName"])
        flt = query.get("$filter")
        if flt:
            m = re.fullmatch(r"(mail|userPrincipalName) eq '((?:[^']|'')*)'", flt)
            if m is None:
                return self._refuse(400, "Request_UnsupportedQuery", f"Unsupported filter: {flt}")
            value = m.group(2).replace("''", "'").lower()
            users = [u for u in users if str(u.get(m.group(1)) or "").lower() == value]
        top = int(query.get("$top", "100"))
        start = int(query.get("$skiptoken") or 0)
        out: dict[str, Any] = {"value": [self._view(u, select) for u in users[start : start + top]]}
        if start + top < len(users):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            out["@odata.nextLink"] = f"{self.url}/v1.0/users?{link}&$skiptoken={start + top}"
        return _ok(200, out)

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.users.get(key) or self.by_upn(key)

    def _get(self, granted: set[str], query: dict[str, str], key: str, _: Any) -> Answer:
        problem = self._options(query, {"$select"}) or self._needs(granted, READ_USERS)
        if problem:
            return problem
        user = self._find(key)
        if user is None:
            return _not_found(key)
        return _ok(200, self._view(user, query.get("$select", "")))

    def _check_properties(self, doc: Any) -> Answer | None:
        if not isinstance(doc, dict):
            return self._refuse(400, "BadRequest", "The request body must be a user object.")
        for key in doc:
            if key not in USER_PROPERTIES or key in READ_ONLY:
                return self._refuse(
                    400, "Request_BadRequest", f"Property '{key}' is read-only or unknown."
                )
        return None

    def _create(self, granted: set[str], query: dict[str, str], doc: Any) -> Answer:
        problem = self._options(query, set()) or self._needs(granted, WRITE_USERS)
        problem = problem or self._check_properties(doc)
        if problem:
            return problem
        for key in REQUIRED_ON_CREATE:
            if key not in doc:
                return self._refuse(
                    400, "Request_BadRequest", f"A value is required for property '{key}'."
                )
        if not isinstance(doc["passwordProfile"], dict) or not doc["passwordProfile"].get(
            "password"
        ):
            return self._refuse(400, "Request_BadRequest", "passwordProfile.password is required.")
        upn = doc["userPrincipalName"]
        if upn.rsplit("@", 1)[-1].lower() not in self.domains:
            return self._refuse(
                400, "Request_BadRequest", "The domain portion of the userPrincipalName is invalid."
            )
        if self.by_upn(upn) is not None:
            return _error(
                400,
                "Request_BadRequest",
                "Another object with the same value for property userPrincipalName already exists.",
            )
        user = self.add(upn, mail=upn)
        user.update({k: v for k, v in doc.items() if k not in ("passwordProfile", "mailNickname")})
        return _ok(201, self._view(user, "id,userPrincipalName,displayName,accountEnabled"))

    def _patch(self, granted: set[str], query: dict[str, str], key: str, doc: Any) -> Answer:
        problem = self._options(query, set()) or self._needs(granted, WRITE_USERS)
        problem = problem or self._check_properties(doc)
        if problem:
            return problem
        user = self._find(key)
        if user is None:
            return _not_found(key)
        user.update(doc)
        return 204, {}, b""

    def _delete(self, granted: set[str], query: dict[str, str], key: str, _: Any) -> Answer:
        problem = self._options(query, set()) or self._needs(granted, WRITE_USERS)
        if problem:
            return problem
        user = self._find(key)
        if user is None:
            return _not_found(key)
        del self.users[user["id"]]
        return 204, {}, b""

    def _assign(self, granted: set[str], query: dict[str, str], key: str, doc: Any) -> Answer:
        problem = self._options(query, set()) or self._needs(granted, ASSIGN)
        if problem:
            return problem
        if not isinstance(doc, dict) or set(doc) != {"addLicenses", "removeLicenses"}:
            return self._refuse(
                400, "Request_BadRequest", "addLicenses and removeLicenses are both required."
            )
        user = self._find(key)
        if user is None:
            return _not_found(key)
        if not user.get("usageLocation"):
            return self._refuse(
                400,
                "Request_BadRequest",
                "License assignment failed because the user's usage location is not set.",
            )
        known = set(self.skus.values())
        adds = [a.get("skuId") for a in doc["addLicenses"] if isinstance(a, dict)]
        if any(sku not in known for sku in adds + list(doc["removeLicenses"])):
            return self._refuse(
                400, "Request_BadRequest", "License does not correspond to a valid company License."
            )
        held = [a for a in user["assignedLicenses"] if a["skuId"] not in doc["removeLicenses"]]
        held += [
            {"skuId": sku, "disabledPlans": []}
            for sku in adds
            if sku not in {h["skuId"] for h in held}
        ]
        user["assignedLicenses"] = held
        return _ok(200, self._view(user, "id,userPrincipalName,assignedLicenses"))

    def _subscribed(self, granted: set[str], query: dict[str, str]) -> Answer:
        problem = self._options(query, {"$select"}, frozenset({"skuId", "skuPartNumber"}))
        problem = problem or self._needs(granted, READ_ORG)
        if problem:
            return problem
        return _ok(
            200,
            {"value": [{"skuId": sku, "skuPartNumber": part} for part, sku in self.skus.items()]},
        )


def _ok(status: int, body: Any) -> Answer:
    return (
        status,
        {"Content-Type": "application/json;odata.metadata=minimal"},
        json.dumps(body).encode(),
    )


def _not_found(key: str) -> Answer:
    return _error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": "fake"}}}
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


@contextmanager
def graph_server(fake: GraphFake) -> Iterator[GraphFake]:
    with serve(fake.handle) as url:
        fake.url = url
        yield fake
