"""A local cybozu.com domain for the User API calls the ``cybozu`` connector makes,
held to the reference on cybozu.dev (common management API, "User API").

What the reference says, and this fake checks
(https://cybozu.dev/ja/common/docs/user-api/...):

* common rules (``overview/user-api-overview/``, ``overview/authentication/``): JSON in
  UTF-8; ``Content-Type: application/json`` when a body is sent; password
  authentication as ``X-Cybozu-Authorization: base64(login:password)``; an API token as
  ``Authorization: Bearer``; with the domain's Basic authentication on, also
  ``Authorization: Basic``; errors as ``{"code", "id", "message"}``;
* API token scopes (cybozu.com help, "APIトークンのスコープ"): ``read`` reads only;
  ``write`` also changes users, except members of Administrators; ``dangerous`` all;
* ``GET /v1/users.json`` (``users/get-users/``): ``ids`` or ``codes`` (never both, at
  most 100), ``size`` 1-100 (default 100), ``offset`` from 0; users in ascending id;
* ``POST /v1/users.json`` (``users/add-users/``): ``users``, 1-100, each with
  ``code`` (≤128, not blank), ``password`` (≤64, not empty), ``name`` (≤128, not
  blank); ``valid`` defaults to true; names ≤64, ``email`` ≤256;
* ``PUT /v1/users.json`` (``users/update-users/``): ``users``, 1-100, each with
  ``code``; an omitted ``valid`` is set to **true** and an omitted ``locale`` to
  "auto" (follow the browser), as the reference says;
* ``DELETE /v1/users.json`` (``users/delete-users/``): ``codes``, 1-100;
* ``GET``/``PUT /v1/users/services.json`` (``users/get-user-services/``,
  ``users/update-users-services/``): services among ``kintone``, ``garoon``,
  ``office``, ``mailwise``, ``secure_access``; at most 100 users a call;
* writing users needs a cybozu.com administrator (``CB_NO02`` otherwise).

What the reference does not say, and the fake assumes (marked "assumed" below): the
answer of a taken login name, of an unknown code in ``PUT``/``DELETE`` (400
``CB_VA01`` with an ``errors`` object, the shape of other validation errors), of a
refused password or token (401 ``CB_WA01``), of a missing Basic authentication (401
``CB_AU01``), and of throttling (:meth:`throttle`: 429 or 503 with Retry-After; the
reference documents no rate-limit answer).

A request the reference says the service refuses is answered as it answers *and*
recorded in :attr:`violations`, which the tests assert empty.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .fakes import serve

SERVICES = ("kintone", "garoon", "office", "mailwise", "secure_access")
#: Writable ``User`` keys of add/update users, with their length limits (None: no limit
#: checked here).
USER_FIELDS: dict[str, int | None] = {
    "code": 128, "valid": None, "password": 64, "name": 128, "surName": 64,
    "givenName": 64, "surNameReading": 64, "givenNameReading": 64, "locale": None,
    "localName": 128, "localNameLocale": None, "timezone": None, "description": 1000,
    "phone": 100, "mobilePhone": 100, "extensionNumber": 100, "email": 256,
    "callto": None, "url": 256, "employeeNumber": 100, "birthDate": None,
    "joinDate": None, "sortOrder": None, "customItemValues": None,
}  # fmt: skip
LOCALES = ("ja", "en", "zh", "zh-TW", "es", "pt-BR", "th", "auto")
MAX_USERS = 100

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class CybozuFake:
    """One cybozu.com domain's users and their services; see the module docstring."""

    #: login name -> password, of the accounts that may call the API.
    logins: dict[str, str] = field(default_factory=dict)
    #: API token -> scope ("read", "write" or "dangerous").
    tokens: dict[str, str] = field(default_factory=dict)
    #: The domain's Basic authentication (user, password), when it is on.
    basic: tuple[str, str] | None = None
    #: Login names of the Administrators group (cybozu.com administrators).
    admins: set[str] = field(default_factory=set)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> user
    services: dict[str, list[str]] = field(default_factory=dict)  # code -> services
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Login names created, in order (a second create of a name is refused, not listed).
    creates: list[str] = field(default_factory=list)
    delay: float = 0.0
    #: Answers ``(method, path)`` instead of the service when it returns one (faults).
    fault: Callable[[str, str], Answer | None] | None = None
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._throttled: list[tuple[int, str]] = []

    # -- test controls --------------------------------------------------------------------

    def administrator(self, login: str, password: str) -> str:
        """An administrator who may call the API; returns its X-Cybozu-Authorization."""
        self.logins[login] = password
        self.admins.add(login)
        if self.by_code(login) is None:
            self.add(login)
        return base64.b64encode(f"{login}:{password}".encode()).decode()

    def add(self, code: str, **fields: Any) -> dict[str, Any]:
        now = _now()
        user = {
            "id": str(next(self._ids)),
            "code": code,
            "ctime": now,
            "mtime": now,
            "valid": True,
            "name": code.split("@")[0],
            "surName": "",
            "givenName": "",
            "email": "",
            "locale": "ja",
            "timezone": "Asia/Tokyo",
            **fields,
        }
        self.users[user["id"]] = user
        self.services.setdefault(code, [])
        return user

    def by_code(self, code: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if u["code"].lower() == code.lower()), None)

    def throttle(self, count: int, status: int = 429, retry_after: str = "2") -> None:
        """The next ``count`` requests answer ``status`` with Retry-After (assumed)."""
        self._throttled += [(status, retry_after)] * count

    # -- the service ----------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        if self.delay:
            time.sleep(self.delay)
        if self.fault is not None:
            answer = self.fault(method, target)
            if answer is not None:
                with self.lock:
                    self.requests.append((method, target))
                return answer
        with self.lock:
            return self._handle(method, target, body, headers)

    def _handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        self.requests.append((method, target))
        parts = urlsplit(target)
        who = self._authenticate(headers)
        if isinstance(who, tuple):
            return who
        if self._throttled:
            status, wait = self._throttled.pop(0)
            return _error(status, "CB_TM01", "Too many requests (assumed).", {"Retry-After": wait})
        query = parse_qsl(parts.query, keep_blank_values=True)
        document: Any = None
        if method in ("POST", "PUT", "DELETE"):
            if not headers.get("content-type", "").startswith("application/json"):
                return self._refuse(400, "CB_IJ01", "不正なJSON文字列です。 (Content-Type)")
            try:
                document = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return self._refuse(400, "CB_IJ01", "不正なJSON文字列です。")
            if not isinstance(document, dict):
                return self._refuse(400, "CB_IJ01", "不正なJSON文字列です。")
        if method != "GET" and not self._may_write(who):
            return self._refuse(403, "CB_NO02", "権限がありません。")
        if parts.path == "/v1/users.json":
            if method == "GET":
                return self._list(query)
            if method == "POST":
                return self._create(who, document)
            if method == "PUT":
                return self._update(who, document)
            if method == "DELETE":
                return self._delete(who, document)
        if parts.path == "/v1/users/services.json":
            if method == "GET":
                return self._services(query)
            if method == "PUT":
                return self._set_services(who, document)
        return self._refuse(404, "CB_NF01", f"No such API: {method} {parts.path}")

    def _authenticate(self, headers: dict[str, str]) -> str | Answer:
        """Who calls: ``("login", name)`` as ``login:name``, or ``token:scope``."""
        authorization = headers.get("authorization", "")
        if self.basic is not None:
            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            if authorization != f"Basic {expected}":
                return self._refuse(401, "CB_AU01", "Basic authentication is required.")
        password_header = headers.get("x-cybozu-authorization")
        if password_header is not None:
            try:
                login, _, password = (
                    base64.b64decode(password_header, validate=True).decode("utf-8").partition(":")
                )
            except (ValueError, UnicodeDecodeError):
                return self._refuse(401, "CB_WA01", "ユーザーのパスワード認証に失敗しました。")
            if self.logins.get(login) != password:
                return self._refuse(401, "CB_WA01", "ユーザーのパスワード認証に失敗しました。")
            return f"login:{login}"
        if authorization.startswith("Bearer "):
            scope = self.tokens.get(authorization.removeprefix("Bearer "))
            if scope is None:
                return self._refuse(401, "CB_WA01", "APIトークンが正しくありません。")
            return f"token:{scope}"
        return self._refuse(401, "CB_WA01", "ログインしてください。")

    def _may_write(self, who: str) -> bool:
        kind, _, name = who.partition(":")
        if kind == "login":
            return name in self.admins
        return name in ("write", "dangerous")

    def _touches_admin(self, who: str, codes: list[str]) -> Answer | None:
        """A ``write`` token may not change members of Administrators."""
        if who == "token:write" and any(c in self.admins for c in codes):
            return self._refuse(403, "CB_NO02", "権限がありません。 (Administrators)")
        return None

    def _refuse(self, status: int, code: str, message: str, errors: Any = None) -> Answer:
        self.violations.append(f"{status} {code}: {message}")
        return _error(status, code, message, errors=errors)

    def _invalid(self, key: str, message: str) -> Answer:
        return self._refuse(
            400, "CB_VA01", "入力内容が正しくありません。", {key: {"messages": [message]}}
        )

    def _paging(self, query: list[tuple[str, str]], allowed: set[str]) -> Answer | dict[str, Any]:
        out: dict[str, Any] = {"ids": [], "codes": [], "size": 100, "offset": 0}
        for key, value in query:
            m = re.fullmatch(r"(ids|codes)\[(\d+)\]", key)
            if m and m.group(1) in allowed:
                out[m.group(1)].append(value)
            elif key in ("size", "offset"):
                if not value.isdigit():
                    return self._invalid(key, "数値でなければなりません。")
                out[key] = int(value)
            else:
                return self._invalid(key, "不明なパラメーターです。")
        if not 1 <= out["size"] <= MAX_USERS:
            return self._invalid("size", "1以上100以下でなければなりません。")
        if out["ids"] and out["codes"]:
            return self._invalid("ids", "idsとcodesは同時に指定できません。")
        if len(out["ids"]) > MAX_USERS or len(out["codes"]) > MAX_USERS:
            return self._invalid("codes", "100件以下でなければなりません。")
        return out

    def _list(self, query: list[tuple[str, str]]) -> Answer:
        paging = self._paging(query, {"ids", "codes"})
        if isinstance(paging, tuple):
            return paging
        users = sorted(self.users.values(), key=lambda u: int(u["id"]))
        if paging["ids"]:
            users = [u for u in users if u["id"] in paging["ids"]]
        if paging["codes"]:
            wanted = {c.lower() for c in paging["codes"]}
            users = [u for u in users if u["code"].lower() in wanted]
        page = users[paging["offset"] : paging["offset"] + paging["size"]]
        return _ok({"users": page})

    def _users_body(self, doc: Any) -> list[dict[str, Any]] | Answer:
        users = doc.get("users") if isinstance(doc, dict) else None
        if not isinstance(users, list) or not 1 <= len(users) <= MAX_USERS:
            return self._invalid("users", "1件以上100件以下で指定してください。")
        if not all(isinstance(u, dict) for u in users):
            return self._invalid("users", "不正な値です。")
        return users

    def _check_user(self, n: int, user: dict[str, Any], required: tuple[str, ...]) -> Answer | None:
        for key in required:
            if key not in user:
                return self._invalid(f"users[{n}].{key}", "必須です。")
        for key, value in user.items():
            if key not in USER_FIELDS:
                return self._invalid(f"users[{n}].{key}", "不明な項目です。")
            limit = USER_FIELDS[key]
            if key == "valid":
                if not isinstance(value, bool):
                    return self._invalid(f"users[{n}].valid", "真偽値でなければなりません。")
            elif key == "locale":
                if value not in LOCALES:
                    return self._invalid(f"users[{n}].locale", "不正な値です。")
            elif limit is not None and (not isinstance(value, str) or len(value) > limit):
                return self._invalid(f"users[{n}].{key}", f"{limit}文字以下で指定してください。")
        for key in ("code", "name"):
            if key in user and not str(user[key]).strip():
                return self._invalid(f"users[{n}].{key}", "空白のみは指定できません。")
        if "password" in user and not user["password"]:
            return self._invalid(f"users[{n}].password", "空文字列は指定できません。")
        return None

    def _create(self, who: str, doc: Any) -> Answer:
        users = self._users_body(doc)
        if isinstance(users, tuple):
            return users
        for n, user in enumerate(users):
            problem = self._check_user(n, user, ("code", "password", "name"))
            if problem:
                return problem
            if self.by_code(user["code"]) is not None:
                # Assumed shape; the connector cannot know in advance: not a violation.
                return _error(
                    400,
                    "CB_VA01",
                    "入力内容が正しくありません。",
                    errors={f"users[{n}].code": {"messages": ["既に使用されています。"]}},
                )
        for user in users:
            fields = {k: v for k, v in user.items() if k not in ("code", "password")}
            fields.setdefault("valid", True)
            fields.setdefault("locale", "auto")
            self.add(user["code"], **fields)
            self.creates.append(user["code"])
        return _ok({})

    def _update(self, who: str, doc: Any) -> Answer:
        users = self._users_body(doc)
        if isinstance(users, tuple):
            return users
        for n, user in enumerate(users):
            problem = self._check_user(n, user, ("code",))
            if problem:
                return problem
            if self.by_code(user["code"]) is None:
                return self._invalid(f"users[{n}].code", "存在しないユーザーです。 (assumed)")
        problem = self._touches_admin(who, [u["code"] for u in users])
        if problem:
            return problem
        for user in users:
            stored = self.by_code(user["code"])
            assert stored is not None
            changes = {k: v for k, v in user.items() if k not in ("code", "password")}
            changes.setdefault("valid", True)  # the reference: omitted is true
            changes.setdefault("locale", "auto")  # the reference: omitted follows the browser
            stored.update(changes, mtime=_now())
        return _ok({})

    def _delete(self, who: str, doc: Any) -> Answer:
        codes = doc.get("codes")
        if not isinstance(codes, list) or not 1 <= len(codes) <= MAX_USERS:
            return self._invalid("codes", "1件以上100件以下で指定してください。")
        for n, code in enumerate(codes):
            if not isinstance(code, str) or self.by_code(code) is None:
                return self._invalid(f"codes[{n}]", "存在しないユーザーです。 (assumed)")
        problem = self._touches_admin(who, codes)
        if problem:
            return problem
        for code in codes:
            stored = self.by_code(code)
            assert stored is not None
            del self.users[stored["id"]]
            self.services.pop(stored["code"], None)
        return _ok({})

    def _services(self, query: list[tuple[str, str]]) -> Answer:
        paging = self._paging(query, {"codes"})
        if isinstance(paging, tuple):
            return paging
        users = sorted(self.users.values(), key=lambda u: int(u["id"]))
        if paging["codes"]:
            wanted = {c.lower() for c in paging["codes"]}
            users = [u for u in users if u["code"].lower() in wanted]
        page = users[paging["offset"] : paging["offset"] + paging["size"]]
        out = [
            {"code": u["code"], "services": list(self.services.get(u["code"], []))} for u in page
        ]
        return _ok({"users": out})

    def _set_services(self, who: str, doc: Any) -> Answer:
        users = self._users_body(doc)
        if isinstance(users, tuple):
            return users
        for n, user in enumerate(users):
            if set(user) != {"code", "services"}:
                return self._invalid(f"users[{n}]", "codeとservicesを指定してください。")
            code, services = user["code"], user["services"]
            if not isinstance(code, str) or not code.strip() or len(code) > 128:
                return self._invalid(f"users[{n}].code", "128文字以下で指定してください。")
            if self.by_code(code) is None:
                return self._invalid(f"users[{n}].code", "存在しないユーザーです。 (assumed)")
            if not isinstance(services, list) or any(s not in SERVICES for s in services):
                return self._invalid(f"users[{n}].services", "不正なサービスコードです。")
        problem = self._touches_admin(who, [u["code"] for u in users])
        if problem:
            return problem
        for user in users:
            stored = self.by_code(user["code"])
            assert stored is not None
            self.services[stored["code"]] = list(dict.fromkeys(user["services"]))
        return _ok({})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ok(body: Any) -> Answer:
    return 200, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(body).encode()


def _error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    errors: Any = None,
) -> Answer:
    body: dict[str, Any] = {"code": code, "id": uuid.uuid4().hex[:20], "message": message}
    if errors is not None:
        body["errors"] = errors
    return (
        status,
        {"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
        json.dumps(body, ensure_ascii=False).encode(),
    )


@contextmanager
def cybozu_server(fake: CybozuFake) -> Iterator[CybozuFake]:
    with serve(fake.handle) as url:
        fake.url = url
        yield fake
