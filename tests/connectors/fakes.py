"""Small, real HTTP servers on 127.0.0.1 for connector tests: a SCIM service with
switchable faults, and a webhook receiver that checks signatures."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from scimcore.adapters.connectors.manual import ManualConnector
from scimcore.provisioning.connector import (
    AccountRef,
    AccountSpec,
    ConnectorContext,
    HttpRequest,
    RemoteAccount,
)

LOOPBACK = "127.0.0.1"
_FILTER = re.compile(r'^(userName|emails\.value|externalId) eq "(.*)"$')

#: (status, headers, body bytes) or None to let the fake answer normally.
Fault = Callable[[str, str], tuple[int, dict[str, str], bytes] | None]


@dataclass
class FakeScim:
    """An in-memory SCIM 2.0 Users endpoint (userName unique, 409 on duplicates)."""

    token: str = "downstream-token"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)
    fault: Fault | None = None
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(
        self, method: str, path: str, body: bytes, auth: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((method, path))
        if self.delay:
            time.sleep(self.delay)
        if self.fault is not None:
            answer = self.fault(method, path)
            if answer is not None:
                return answer
        if auth != f"Bearer {self.token}":
            return _json(401, {"detail": "bad token", "status": "401"})
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        if segments[:1] != ["Users"]:
            return _json(404, {"detail": "no such endpoint"})
        with self.lock:
            if len(segments) == 1 and method == "GET":
                return self._list(parse_qs(parts.query))
            if len(segments) == 1 and method == "POST":
                return self._create(json.loads(body))
            user = self.users.get(segments[1]) if len(segments) == 2 else None
            if user is None:
                return _json(404, {"detail": "not found"})
            if method == "GET":
                return _json(200, user)
            if method == "PUT":
                data = json.loads(body)
                data["id"] = user["id"]
                self.users[user["id"]] = data
                return _json(200, data)
            if method == "PATCH":
                for op in json.loads(body)["Operations"]:
                    user.update(op["value"])
                return _json(200, user)
            if method == "DELETE":
                del self.users[user["id"]]
                return 204, {}, b""
        return _json(405, {"detail": "method"})

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        found = list(self.users.values())
        if "filter" in query:
            m = _FILTER.match(query["filter"][0])
            assert m, query
            attr, value = m.groups()
            found = [u for u in found if value.lower() in _values(u, attr)]
        start = int(query.get("startIndex", ["1"])[0])
        count = int(query.get("count", ["100"])[0])
        page = found[start - 1 : start - 1 + count]
        return _json(
            200,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": len(found),
                "startIndex": start,
                "itemsPerPage": len(page),
                "Resources": page,
            },
        )

    def _create(self, data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        name = str(data.get("userName", "")).lower()
        if any(str(u.get("userName", "")).lower() == name for u in self.users.values()):
            return _json(409, {"detail": "userName taken", "scimType": "uniqueness"})
        data["id"] = uuid.uuid4().hex
        data.setdefault("active", True)
        self.users[data["id"]] = data
        self.creates.append(name)
        return _json(201, data)

    def add(self, user_name: str, email: str | None = None, active: bool = True) -> str:
        with self.lock:
            uid = uuid.uuid4().hex
            self.users[uid] = {
                "id": uid,
                "userName": user_name,
                "active": active,
                "emails": [{"value": email or user_name, "primary": True}],
            }
            return uid

    def by_name(self, user_name: str) -> dict[str, Any] | None:
        with self.lock:
            for u in self.users.values():
                if str(u.get("userName", "")).lower() == user_name.lower():
                    return u
        return None


def _values(user: dict[str, Any], attr: str) -> list[str]:
    if attr == "emails.value":
        return [str(e.get("value", "")).lower() for e in user.get("emails") or []]
    return [str(user.get(attr, "")).lower()]


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/scim+json"}, json.dumps(body).encode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: records every POST; ``answers`` scripts the next statuses."""

    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    url: str = ""

    def handle(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        self.received.append(Received(headers, body))
        status = self.answers.pop(0) if self.answers else 200
        return status, {"Content-Type": "application/json"}, b"{}"


@contextmanager
def serve(
    app: Callable[[str, str, bytes, dict[str, str]], tuple[int, dict[str, str], bytes]],
) -> Iterator[str]:
    """Run ``app(method, path, body, headers)`` behind a real HTTP server; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, data = app(self.command, self.path, body, headers)
            self.send_response(status)
            for k, v in out_headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def scim_server(fake: FakeScim) -> Iterator[FakeScim]:
    with serve(lambda m, p, b, h: fake.handle(m, p, b, h.get("authorization"))) as url:
        fake.url = url
        yield fake


@contextmanager
def receiver_server(receiver: Receiver) -> Iterator[Receiver]:
    with serve(receiver.handle) as url:
        receiver.url = url
        yield receiver


class CountingConnector(ManualConnector):
    """An in-process connector whose every lifecycle call is ``requests_per_call``
    requests: each applies ``ctx.auth`` (as every connector must) and is time-stamped
    (``time.time()``) when it would leave. ``failure``, when set, is raised instead."""

    name: ClassVar[str] = "counting"

    def __init__(self, requests_per_call: int = 1) -> None:
        self.requests_per_call = requests_per_call
        #: (integration id, time) of each request.
        self.sent: list[tuple[int, float]] = []
        self.failure: Exception | None = None
        self.lock = threading.Lock()

    def _send(self, ctx: ConnectorContext) -> None:
        for _ in range(self.requests_per_call):
            ctx.auth.apply(HttpRequest("POST", "http://127.0.0.1/never-sent", {}))
            with self.lock:
                self.sent.append((ctx.integration_id, time.time()))
        if self.failure is not None:
            raise self.failure

    def times(self, integration_id: int) -> list[float]:
        """When the requests to ``integration_id`` left, in order."""
        with self.lock:
            return sorted(at for i, at in self.sent if i == integration_id)

    def create_account(
        self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        self._send(ctx)
        return super().create_account(ctx, spec, idempotency_key=idempotency_key)

    def update_account(
        self, ctx: ConnectorContext, ref: AccountRef, desired: AccountSpec, *, idempotency_key: str
    ) -> RemoteAccount:
        self._send(ctx)
        return super().update_account(ctx, ref, desired, idempotency_key=idempotency_key)
