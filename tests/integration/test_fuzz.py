"""A bounded fuzz campaign against the live service: no input is ever a 5xx.

Where ``test_schemathesis.py`` generates requests from the OpenAPI document, this module
generates what an attacker or a broken client sends: request bodies of any shape with
odd strings (lone surrogates, NUL, very long, every script) under the attribute names
the service knows; filters from the RFC 7644 grammar over known, unknown and secret
attributes; cursors, forged or mangled; paths with any bytes; odd headers; and
``sortBy``, ``sortOrder``, ``attributes``, ``startIndex`` and ``count`` of any kind.
Each request goes on the wire byte for byte (``http.client``) to the real service, on
SQLite and PostgreSQL, and must be answered below 500 with a SCIM error body whenever
it is refused. After each campaign every list of the fuzzed organization, index and
cursor paged, and every resource in it still answers 200.

Generation is derandomized, so CI sends the same requests every run. For a longer
campaign with new inputs:
``SCIMSERVER_FUZZ_EXAMPLES=5000 SCIMSERVER_FUZZ_RANDOM=1 pytest tests/integration/test_fuzz.py``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimcore.pagination import query_fingerprint

from .conftest import LiveServer, Org
from .support import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    LIST_RESPONSE_SCHEMA,
    PATCH_OP_SCHEMA,
    REQUEST_TIMEOUT,
    SCIM_JSON,
    USER_SCHEMA,
    require_loopback,
)

EXAMPLES = int(os.environ.get("SCIMSERVER_FUZZ_EXAMPLES", "120"))
RANDOM = os.environ.get("SCIMSERVER_FUZZ_RANDOM", "") == "1"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
# Kept under gunicorn's request-line and header limits, so the application answers.
MAX_TARGET = 3500

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    database=None,
    deadline=None,
    phases=[p for p in settings.default.phases if p.name != "shrink"],
    suppress_health_check=list(HealthCheck),
)


# -- the wire ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Wire:
    """Raw HTTP to one organization of the live service, checking every answer."""

    base: str
    tenant_path: str
    token: str
    sent: int = 0

    def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
    ) -> Answer:
        """``target`` is the path and query after the tenant URL, already encoded."""
        parts = urlsplit(self.base)
        require_loopback(self.base)
        all_headers = {"Accept": SCIM_JSON, "Connection": "close"}
        if auth:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            all_headers["Content-Type"] = SCIM_JSON
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.putrequest(method, self.tenant_path + target, skip_accept_encoding=True)
            for name, value in all_headers.items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            answer = Answer(
                response.status,
                (response.getheader("Content-Type") or "").split(";")[0].strip(),
                response.read(),
            )
        finally:
            conn.close()
        self.sent += 1
        shown = f"{method} {target[:300]!r} body={body[:300] if body else b''!r}"
        # /Me answers 501 to an organization's secret token, as RFC 7644 3.11 allows.
        expected_501 = answer.status == 501 and target.lower().startswith("/me")
        assert answer.status < 500 or expected_501, f"{shown}\n-> {answer.status} {answer.body!r}"
        if answer.status >= 400 and method != "HEAD":
            assert answer.content_type == SCIM_JSON, f"{shown}\n-> {answer}"
            error = answer.json()
            assert error["schemas"] == [ERROR_SCHEMA] and error["detail"], f"{shown}\n-> {error}"
            assert error["status"] == str(answer.status), f"{shown}\n-> {error}"
        return answer


@dataclass(frozen=True)
class Tenant:
    wire: Wire
    users: list[str]
    groups: list[str]


@pytest.fixture(scope="module")
def tenant(live_server: LiveServer) -> Tenant:
    """An organization of the module's own, with users (emails, enterprise attributes,
    a manager) and groups with members, so generated requests meet real resources."""
    org: Org = live_server.create_org("fuzz")
    wire = Wire(live_server.base_url, urlsplit(org.tenant_url).path, org.token)
    users = []
    for n in range(6):
        user = {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": f"fuzz-{n}@example.com",
            "name": {"givenName": f"Given{n}", "familyName": "山田"},
            "emails": [{"value": f"fuzz-{n}@example.com", "type": "work", "primary": True}],
            "active": n % 2 == 0,
            ENTERPRISE: {"employeeNumber": str(n), "manager": {"value": "m"}},
        }
        users.append(wire.send("POST", "/Users", json.dumps(user).encode()).json()["id"])
    groups = []
    for n in range(3):
        group = {
            "schemas": [GROUP_SCHEMA],
            "displayName": f"fuzz group {n}",
            "members": [{"value": u} for u in users[n::2]],
        }
        groups.append(wire.send("POST", "/Groups", json.dumps(group).encode()).json()["id"])
    return Tenant(wire, users, groups)


def assert_tenant_answers(tenant: Tenant) -> None:
    """Every list, index and cursor paged, and every resource listed, answers 200."""
    wire = tenant.wire
    for endpoint in ("/Users", "/Groups"):
        ids: list[str] = []
        start = 1
        while True:
            page = wire.send("GET", f"{endpoint}?startIndex={start}&count=1000")
            assert page.status == 200, page
            body = page.json()
            assert body["schemas"] == [LIST_RESPONSE_SCHEMA]
            ids += [r["id"] for r in body["Resources"]]
            start += body["itemsPerPage"]
            if not body["Resources"] or start > body["totalResults"]:
                break
        cursor = ""
        seen: list[str] = []
        while True:
            page = wire.send("GET", f"{endpoint}?count=500&cursor={cursor}")
            assert page.status == 200, page
            body = page.json()
            seen += [r["id"] for r in body["Resources"]]
            cursor = body.get("nextCursor", "")
            if not cursor:
                break
        assert sorted(seen) == sorted(ids)
        for id in ids:
            got = wire.send("GET", f"{endpoint}/{quote(id, safe='')}")
            assert got.status == 200, got


# -- strategies ------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\ud83d",
    "\U0001f600",
    "山田太郎",
    "ü" * 600,
    "a" * 513,
    "a" * 20_000,
    "%",
    "_",
    "\\",
    '"',
    "'; DROP TABLE resources; --",
    "\u202e\u200b",
    "\r\n",
    "null",
    "true",
    "2011-05-13T04:42:34Z",
    "9999-12-31T23:59:59Z",
    'W/"1"',
    "urn:ietf:params:scim:schemas:core:2.0:User",
]
strings = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63, 2**64, 1e308, -0.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
ATTRIBUTES = [
    "userName",
    "UserName",
    "name",
    "name.givenName",
    "displayName",
    "nickName",
    "title",
    "active",
    "password",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "phoneNumbers",
    "addresses",
    "groups",
    "members",
    "members.value",
    "externalId",
    "id",
    "meta",
    "meta.created",
    "meta.lastModified",
    "schemas",
    "x509Certificates",
    f"{ENTERPRISE}:manager",
    f"{ENTERPRISE}:manager.value",
    f"{ENTERPRISE}:employeeNumber",
    ENTERPRISE,
    "urn:x:y:z",
    "unknown",
    "$ref",
]
keys = st.one_of(
    st.sampled_from(ATTRIBUTES), st.sampled_from(["value", "type", "display"]), strings
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def text(value: Any) -> bytes:
    """JSON text as a client might send it: lone surrogates escaped (ensure_ascii)."""
    return json.dumps(value, ensure_ascii=True).encode()


user_bodies = st.builds(
    lambda overrides, schemas: {"schemas": schemas, "userName": secrets.token_hex(6), **overrides},
    st.dictionaries(st.sampled_from(ATTRIBUTES), json_values, max_size=4),
    st.one_of(st.just([USER_SCHEMA]), st.lists(st.sampled_from([USER_SCHEMA, ENTERPRISE, "x"]))),
)
group_bodies = st.builds(
    lambda overrides: {"schemas": [GROUP_SCHEMA], "displayName": secrets.token_hex(6), **overrides},
    st.dictionaries(st.sampled_from(["members", "displayName", "externalId", "x"]), json_values),
)

COMPARE = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Co", "pr"]


def _filter_values() -> st.SearchStrategy[str]:
    return st.one_of(
        strings.map(lambda s: json.dumps(s, ensure_ascii=True)),
        numbers.map(json.dumps),
        st.sampled_from(["true", "false", "null", "True", '"unterminated', "bare"]),
    )


attribute_expressions = st.one_of(
    st.builds(lambda a: f"{a} pr", st.sampled_from(ATTRIBUTES)),
    st.builds(
        lambda a, op, v: f"{a} {op} {v}",
        st.sampled_from(ATTRIBUTES),
        st.sampled_from(COMPARE),
        _filter_values(),
    ),
)
filters = st.recursive(
    attribute_expressions,
    lambda inner: st.one_of(
        st.builds(lambda a, b, op: f"{a} {op} {b}", inner, inner, st.sampled_from(["and", "or"])),
        st.builds(lambda a: f"not ({a})", inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(
            lambda attr, a: f"{attr}[{a}]", st.sampled_from(["emails", "members", "x"]), inner
        ),
    ),
    max_leaves=12,
) | st.text(max_size=60)

patch_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "REPLACE", "move", ""])},
    optional={
        "path": st.one_of(
            st.sampled_from(ATTRIBUTES),
            filters.map(lambda f: f"emails[{f}].value"),
            filters.map(lambda f: f"members[{f}]"),
            strings,
        ),
        "value": json_values,
    },
)
patch_bodies = st.builds(
    lambda ops, schemas: {"schemas": schemas, "Operations": ops},
    st.lists(patch_ops, max_size=4),
    st.one_of(st.just([PATCH_OP_SCHEMA]), st.lists(strings, max_size=2)),
)

query_parameters = st.dictionaries(
    st.sampled_from(
        ["filter", "sortBy", "sortOrder", "attributes", "excludedAttributes", "startIndex", "count"]
    ),
    st.one_of(
        filters,
        st.lists(st.sampled_from(ATTRIBUTES), max_size=4).map(",".join),
        strings,
        numbers.map(str),
        st.sampled_from(["ascending", "DESCENDING", "-1", "0", "1e3", ""]),
    ),
    max_size=4,
)


def encode_query(params: dict[str, str]) -> str:
    """A query string; a lone surrogate goes on the wire as its UTF-8-ish bytes' escape."""
    safe = {k: v.encode("utf-8", "surrogatepass") for k, v in params.items()}
    return urlencode(safe)


def bounded(target: str) -> bool:
    return len(target) <= MAX_TARGET


# -- the campaigns -----------------------------------------------------------------------------


def campaign(tenant: Tenant, strategy: st.SearchStrategy[Any], send: Callable[[Any], None]) -> None:
    @FUZZ
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    run()
    assert_tenant_answers(tenant)


def test_resource_bodies(tenant: Tenant) -> None:
    wire = tenant.wire

    def send(case: tuple[str, Any]) -> None:
        kind, body = case
        payload = text(body)
        if kind == "user":
            created = wire.send("POST", "/Users", payload)
            target = created.json()["id"] if created.status == 201 else tenant.users[0]
            wire.send("PUT", f"/Users/{quote(target, safe='')}", payload)
        else:
            created = wire.send("POST", "/Groups", payload)
            target = created.json()["id"] if created.status == 201 else tenant.groups[0]
            wire.send("PUT", f"/Groups/{quote(target, safe='')}", payload)

    cases = st.tuples(
        st.sampled_from(["user", "group"]), st.one_of(user_bodies, group_bodies, json_values)
    )
    campaign(tenant, cases, send)


def test_patch_and_bulk_bodies(tenant: Tenant) -> None:
    wire = tenant.wire

    def send(case: tuple[Any, int, Any]) -> None:
        body, which, bulk_ops = case
        user = tenant.users[which % len(tenant.users)]
        group = tenant.groups[which % len(tenant.groups)]
        wire.send("PATCH", f"/Users/{user}", text(body))
        wire.send("PATCH", f"/Groups/{group}?excludedAttributes=members", text(body))
        wire.send("POST", "/Bulk", text({"schemas": [BULK], "Operations": bulk_ops}))

    bulk_operation = st.fixed_dictionaries(
        {
            "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "x"]),
            "path": st.one_of(
                st.sampled_from(["/Users", "/Groups", "/Users/bulkId:a", "/Groups/x", "/Bulk"]),
                strings,
            ),
        },
        optional={
            "bulkId": st.sampled_from(["a", "b", ""]),
            "data": st.one_of(user_bodies, patch_bodies, json_values),
            "version": strings,
        },
    )
    cases = st.tuples(
        st.one_of(patch_bodies, json_values),
        st.integers(0, 10),
        st.lists(bulk_operation, max_size=3),
    )
    campaign(tenant, cases, send)


def test_queries_filters_sorting_and_projection(tenant: Tenant) -> None:
    wire = tenant.wire

    def send(params: dict[str, str]) -> None:
        query = encode_query(params)
        for endpoint in ("/Users", "/Groups"):
            if bounded(query):
                wire.send("GET", f"{endpoint}?{query}")
        search = {"schemas": [SEARCH], **params}
        wire.send("POST", "/.search", text(search))
        wire.send("POST", "/Users/.search", text(search))

    campaign(tenant, query_parameters, send)


def test_cursors(tenant: Tenant) -> None:
    wire = tenant.wire
    first = wire.send("GET", "/Users?count=2&cursor=").json()
    issued = first["nextCursor"]
    fingerprint = query_fingerprint("User", None, None, "ascending")

    def forge(position: Any) -> str:
        raw = json.dumps([*position, fingerprint], ensure_ascii=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def mangle(cut: int, char: str) -> str:
        return issued[:cut] + char + issued[cut + 1 :]

    cursors = st.one_of(
        st.tuples(json_values, json_values).map(forge),
        st.tuples(st.integers(0, len(issued)), st.characters()).map(lambda c: mangle(*c)),
        st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode()),
        strings,
    )

    def send(case: tuple[str, dict[str, str]]) -> None:
        cursor, params = case
        query = encode_query({**params, "cursor": cursor})
        if bounded(query):
            wire.send("GET", f"/Users?{query}")

    campaign(tenant, st.tuples(cursors, query_parameters), send)


def test_paths_methods_and_headers(tenant: Tenant) -> None:
    wire = tenant.wire
    segments = st.one_of(
        st.sampled_from(
            [
                "Users",
                "Groups",
                ".search",
                "Bulk",
                "Me",
                "Schemas",
                "ResourceTypes",
                "ServiceProviderConfig",
                "..",
                "",
                "%00",
                "%ED%A0%80",
                "%FF",
                "%2F",
                *tenant.users[:2],
                *tenant.groups[:1],
            ]
        ),
        st.text(max_size=20).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
    )
    header_values = st.one_of(
        st.sampled_from(
            [
                "application/scim+json",
                "application/json; charset=utf-16",
                "text/html",
                "*/*",
                'W/"1"',
                "*",
                "",
                "multipart/form-data; boundary=x",
                "application/scim+json; charset=latin-1",
            ]
        ),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    )
    headers = st.dictionaries(
        st.sampled_from(["Content-Type", "Accept", "If-Match", "If-None-Match", "Authorization"]),
        header_values,
        max_size=3,
    )

    def send(case: tuple[str, list[str], dict[str, str], Any]) -> None:
        method, parts, extra, body = case
        target = "/" + "/".join(parts)
        if bounded(target):
            wire.send(
                method, target, text(body) if method in ("POST", "PUT", "PATCH") else None, extra
            )

    cases = st.tuples(
        st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]),
        st.lists(segments, min_size=1, max_size=4),
        headers,
        st.one_of(user_bodies, patch_bodies, json_values),
    )
    # DELETE may remove the seeded resources: the tenant is re-checked after, not reseeded.
    campaign(tenant, cases, send)
