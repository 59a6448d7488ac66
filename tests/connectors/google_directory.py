"""A local Google Admin SDK Directory API (users), held to Google's own description.

Every request is checked against the API's discovery document, the one that ships
inside ``google-api-python-client`` (``admin.directory_v1.json``): the method and path
must be one of ``resources.users.methods``, each query parameter one the method (or the
API) declares, with its type, enum and bounds; the body's properties must exist in the
``User`` schema (nested objects too) and the ones it marks required for
``directory.users.insert`` must be there; the bearer token must carry one of the
method's scopes. What the real service would reject is answered as it answers (400,
401, 403, 404, 409 in Google's error format) *and* recorded in :attr:`violations`,
which the tests assert empty: a connector that sends a request Google would refuse
fails its test.

The answers follow the API reference: users are listed in pages of ``maxResults``
(default 100, at most 500) with ``nextPageToken``; ``users.get`` takes the id or the
primary e-mail; ``users.insert`` refuses a taken address with 409 ``duplicate``;
``users.delete`` answers 204. :meth:`throttle` makes the next requests answer 429, or
403 ``userRateLimitExceeded`` as Google does for per-user quotas, with Retry-After.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .fakes import serve

USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user"
READONLY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.settings.basic"


def discovery_document(name: str = "admin.directory_v1") -> dict[str, Any]:
    path = resources.files("googleapiclient.discovery_cache") / "documents"
    return dict(json.loads((path / f"{name}.json").read_text()))


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class DirectoryFake:
    """The users of one Google Workspace customer; see the module docstring."""

    #: Bearer token -> the scopes it was granted.
    tokens: dict[str, set[str]] = field(default_factory=dict)
    #: Bearer token -> the user it acts as (tokens from a service account's assertion).
    subjects: dict[str, str] = field(default_factory=dict)
    #: Service account e-mail -> (its public key, key id, the scopes its domain-wide
    #: delegation grants); the token endpoint checks assertions against it.
    service_accounts: dict[str, tuple[str, str, set[str]]] = field(default_factory=dict)
    #: User e-mail -> its Gmail POP and IMAP settings.
    mail: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.doc = discovery_document()
        self.methods = [
            (m["httpMethod"], _template(m["path"]), name, m)
            for name, m in self.doc["resources"]["users"]["methods"].items()
        ]
        self.gmail = discovery_document("gmail.v1")
        settings = self.gmail["resources"]["users"]["resources"]["settings"]["methods"]
        self.gmail_methods = [
            (m["httpMethod"], _template(m["path"]), name, m)
            for name, m in settings.items()
            if name in ("getPop", "updatePop", "getImap", "updateImap")
        ]
        self._ids = itertools.count(100000000000000000000)
        self._throttled: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    # -- test controls --------------------------------------------------------------------

    def grant(self, token: str, *scopes: str) -> str:
        self.tokens[token] = set(scopes or (USER_SCOPE,))
        return token

    def add(self, email: str, **fields: Any) -> dict[str, Any]:
        user = {
            "kind": "admin#directory#user",
            "id": str(next(self._ids)),
            "primaryEmail": email,
            "name": {"givenName": "Given", "familyName": "Family", "fullName": "Given Family"},
            "suspended": False,
            "archived": False,
            "isAdmin": False,
            "lastLoginTime": "1970-01-01T00:00:00.000Z",
            "customerId": "C0abc123",
            "orgUnitPath": "/",
            **fields,
        }
        self.users[user["id"]] = user
        return user

    def by_email(self, email: str) -> dict[str, Any] | None:
        return next(
            (u for u in self.users.values() if u["primaryEmail"].lower() == email.lower()),
            None,
        )

    def throttle(self, count: int, *, status: int = 429, reason: str = "rateLimitExceeded") -> None:
        self._throttled += [(status, reason)] * count

    # -- the service ----------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        with self.lock:
            return self._handle(method, target, body, headers)

    def _handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(target)
        path = parts.path.lstrip("/")
        self.requests.append((method, target))
        if path == "token":
            return self._token(method, body, headers)
        if path.startswith("gmail/"):
            return self._gmail(method, path, parts.query, body, headers)
        found = next(
            ((name, m, match) for verb, rx, name, m in self.methods
             if verb == method and (match := rx.fullmatch(path))),
            None,
        )  # fmt: skip
        if found is None:
            return self._refuse(404, "notFound", f"no method {method} /{path} in the API")
        name, spec, match = found
        token = headers.get("authorization", "")
        scopes = (
            self.tokens.get(token.removeprefix("Bearer ")) if token.startswith("Bearer ") else None
        )
        if scopes is None:
            return self._refuse(401, "authError", "Invalid Credentials", code="UNAUTHENTICATED")
        if not scopes & set(spec.get("scopes", ())):
            return self._refuse(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        problem = self._check_query(spec, query)
        if problem:
            return self._refuse(400, "invalid", problem)
        document: Any = None
        if "request" in spec:
            try:
                document = json.loads(body or b"null")
            except ValueError:
                return self._refuse(400, "parseError", "Parse Error")
            problem = self._check_body(spec["request"]["$ref"], document, f"directory.users.{name}")
            if problem:
                return self._refuse(400, "invalid", problem)
        elif body:
            return self._refuse(400, "invalid", f"users.{name} takes no request body")
        if self._throttled:
            status, reason = self._throttled.pop(0)
            return _error(status, reason, "Quota exceeded; retry later.", {"Retry-After": "1"})
        params = {k: unquote(v) for k, v in match.groupdict().items()}
        return getattr(self, f"_{name}")(params, query, document)

    # -- the token endpoint (RFC 7523 assertions of a service account) ---------------------

    def delegate(self, client_email: str, public_key: str, key_id: str, *scopes: str) -> None:
        """Grant the service account domain-wide delegation for ``scopes``."""
        self.service_accounts[client_email] = (public_key, key_id, set(scopes))

    def _token(self, method: str, body: bytes, headers: dict[str, str]) -> Answer:
        import jwt

        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if (
            method != "POST"
            or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ):
            return self._oauth_refuse("unsupported_grant_type", "Invalid grant_type")
        try:
            unverified = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            header = jwt.get_unverified_header(form.get("assertion", ""))
        except jwt.PyJWTError:
            return self._oauth_refuse("invalid_grant", "Invalid JWT")
        account = self.service_accounts.get(str(unverified.get("iss")))
        if account is None:
            return self._oauth_refuse("invalid_client", "The OAuth client was not found.")
        public_key, key_id, delegated = account
        try:
            claims = jwt.decode(
                form["assertion"],
                public_key,
                algorithms=["RS256"],
                audience=f"{self.url}/token",
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as exc:
            return self._oauth_refuse("invalid_grant", f"Invalid JWT: {exc}")
        if header.get("kid") != key_id or claims["exp"] - claims["iat"] > 3600:
            return self._oauth_refuse("invalid_grant", "Invalid JWT Signature or lifetime.")
        scopes = set(str(claims["scope"]).split())
        if not scopes or not scopes <= delegated:
            # Google's answer when the delegation does not cover the scopes asked for.
            return _oauth_error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        token = f"ya29.{next(self._ids)}"
        self.tokens[token] = scopes
        if claims.get("sub"):
            self.subjects[token] = str(claims["sub"])
        body_out = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        return 200, {"Content-Type": "application/json"}, json.dumps(body_out).encode()

    def _oauth_refuse(self, error: str, description: str) -> Answer:
        self.violations.append(f"token {error}: {description}")
        return _oauth_error(error, description)

    # -- Gmail: POP and IMAP settings ----------------------------------------------------

    def _gmail(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        found = next(
            ((name, m, match) for verb, rx, name, m in self.gmail_methods
             if verb == method and (match := rx.fullmatch(path))),
            None,
        )  # fmt: skip
        if found is None:
            return self._refuse(404, "notFound", f"no Gmail method {method} /{path} in the API")
        name, spec, match = found
        token = headers.get("authorization", "").removeprefix("Bearer ")
        scopes = self.tokens.get(token)
        if scopes is None:
            return self._refuse(401, "authError", "Invalid Credentials")
        if not scopes & set(spec.get("scopes", ())):
            return self._refuse(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        user = unquote(match.group("userId"))
        acting = self.subjects.get(token)
        if user == "me":
            user = acting or ""
        if not acting or acting.lower() != user.lower():
            return self._refuse(
                403, "forbidden", "Delegation denied: a user's settings need that user's token"
            )
        if self.by_email(user) is None:
            return _error(400, "failedPrecondition", "Mail service not enabled")
        kind = "pop" if name.endswith("Pop") else "imap"
        stored = self.mail.setdefault(user.lower(), {
            "pop": {"accessWindow": "disabled", "disposition": "leaveInInbox"},
            "imap": {"enabled": False, "autoExpunge": True, "expungeBehavior": "archive"},
        })  # fmt: skip
        if method == "PUT":
            try:
                document = json.loads(body or b"null")
            except ValueError:
                return self._refuse(400, "parseError", "Parse Error")
            saved = self.doc
            self.doc = self.gmail  # the body is checked against Gmail's schemas
            try:
                problem = self._check_body(
                    spec["request"]["$ref"], document, f"gmail.users.settings.{name}"
                )
            finally:
                self.doc = saved
            if problem:
                return self._refuse(400, "invalidArgument", problem)
            prop_enums = self.gmail["schemas"][spec["request"]["$ref"]]["properties"]
            for key, value in document.items():
                allowed = prop_enums[key].get("enum")
                if allowed and value not in allowed:
                    return self._refuse(400, "invalidArgument", f"Invalid value for {key}: {value}")
            stored[kind].update(document)
        return _ok(stored[kind])

    def _refuse(self, status: int, reason: str, message: str, code: str | None = None) -> Answer:
        self.violations.append(f"{status} {reason}: {message}")
        return _error(status, reason, message)

    def _check_query(self, spec: dict[str, Any], query: dict[str, str]) -> str | None:
        declared = {**self.doc.get("parameters", {}), **spec.get("parameters", {})}
        for name, value in query.items():
            param = declared.get(name)
            if param is None or param.get("location") != "query":
                return f"Invalid parameter: {name}"
            if "enum" in param and value not in param["enum"]:
                return f"Invalid value for {name}: {value}"
            if param.get("type") == "integer":
                if not re.fullmatch(r"-?\d+", value):
                    return f"Invalid value for {name}: {value}"
                low, high = param.get("minimum"), param.get("maximum")
                if (low and int(value) < int(low)) or (high and int(value) > int(high)):
                    return f"Invalid value for {name}: {value}"
        for name, param in spec.get("parameters", {}).items():
            if param.get("required") and param.get("location") == "query" and name not in query:
                return f"Required parameter: {name}"
        return None

    def _check_body(self, schema: str, value: Any, method: str, where: str = "") -> str | None:
        if not isinstance(value, dict):
            return f"{where or 'the body'} must be an object"
        properties = self.doc["schemas"][schema].get("properties", {})
        for key, item in value.items():
            prop = properties.get(key)
            if prop is None:
                return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}'"
            if "$ref" in prop and isinstance(item, dict):
                problem = self._check_body(prop["$ref"], item, method, f"{where}{key}.")
                if problem:
                    return problem
            kind = prop.get("type")
            if kind == "string" and not isinstance(item, str):
                return f"Invalid value at '{where}{key}', expected a string"
            if kind == "boolean" and not isinstance(item, bool):
                return f"Invalid value at '{where}{key}', expected a boolean"
        for key, prop in properties.items():
            required = prop.get("annotations", {}).get("required", [])
            if method in required and key not in value:
                return f"Invalid Input: {where}{key} is required"
        return None

    # -- the methods ------------------------------------------------------------------------

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.users.get(key) or self.by_email(key)

    def _list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Answer:
        if "customer" not in query and "domain" not in query:
            return self._refuse(400, "badRequest", "Bad Request: customer or domain is required")
        users = sorted(self.users.values(), key=lambda u: u["primaryEmail"])
        wanted = query.get("query", "")
        if wanted:
            m = re.fullmatch(r"externalId='([^']*)'", wanted)
            if m is None:
                return self._refuse(400, "invalid", f"Invalid Input: query {wanted}")
            users = [
                u for u in users
                if any(e.get("value") == m.group(1) for e in u.get("externalIds") or [])
            ]  # fmt: skip
        size = int(query.get("maxResults", "100"))
        start = int(query.get("pageToken") or 0)
        page = users[start : start + size]
        out: dict[str, Any] = {"kind": "admin#directory#users", "users": page}
        if start + size < len(users):
            out["nextPageToken"] = str(start + size)
        if not page:
            out.pop("users")  # Google leaves the key out of an empty page
        return _ok(out)

    def _get(self, params: dict[str, str], query: dict[str, str], _: Any) -> Answer:
        user = self._find(params["userKey"])
        if user is None:
            return _error(404, "notFound", "Resource Not Found: userKey")
        return _ok(user)

    def _insert(self, params: dict[str, str], query: dict[str, str], doc: Any) -> Answer:
        if self.by_email(doc["primaryEmail"]) is not None:
            return _error(409, "duplicate", "Entity already exists.")
        user = self.add(doc["primaryEmail"])
        user.update({k: v for k, v in doc.items() if k != "password"})
        user["name"] = {
            **doc["name"],
            "fullName": f"{doc['name']['givenName']} {doc['name']['familyName']}",
        }
        return _ok(user)

    def _patch(self, params: dict[str, str], query: dict[str, str], doc: Any) -> Answer:
        user = self._find(params["userKey"])
        if user is None:
            return _error(404, "notFound", "Resource Not Found: userKey")
        for key, value in doc.items():
            if key == "password":
                continue
            if isinstance(value, dict) and isinstance(user.get(key), dict):
                user[key] = {**user[key], **value}
            else:
                user[key] = value
        return _ok(user)

    _update = _patch

    def _delete(self, params: dict[str, str], query: dict[str, str], _: Any) -> Answer:
        user = self._find(params["userKey"])
        if user is None:
            return _error(404, "notFound", "Resource Not Found: userKey")
        del self.users[user["id"]]
        return 204, {}, b""


def _template(path: str) -> re.Pattern[str]:
    """``admin/directory/v1/users/{userKey}`` as a regular expression."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    )


def _oauth_error(error: str, description: str) -> Answer:
    body = {"error": error, "error_description": description}
    status = 401 if error in ("invalid_client", "unauthorized_client") else 400
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _ok(body: Any) -> Answer:
    return 200, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body).encode()


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return (
        status,
        {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
        json.dumps(body).encode(),
    )


@contextmanager
def directory_server(fake: DirectoryFake) -> Iterator[DirectoryFake]:
    with serve(fake.handle) as url:
        fake.url = url
        yield fake
