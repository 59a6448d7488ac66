"""Helpers shared by the live-server tests: an HTTP session bound to a tenant, SCIM assertions.

Every assertion here checks something a real SCIM client notices on the wire: the status
code, the ``Content-Type`` and the fields of the JSON body (RFC 7644 3.4.2, 3.12).
"""

from __future__ import annotations

import http.client
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

LOOPBACK = "127.0.0.1"
REQUEST_TIMEOUT = 15.0

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def require_loopback(url: str) -> None:
    """Refuse any URL that would leave this machine: the suite only talks to 127.0.0.1."""
    host = urlsplit(url).hostname
    if host != LOOPBACK:
        raise AssertionError(f"refusing to contact {url!r}: only {LOOPBACK} is allowed")


class ScimSession(requests.Session):
    """A ``requests`` session bound to one tenant URL, with optional bearer credentials.

    Paths starting with ``/`` are resolved against the tenant URL, so tests read like the
    requests an IdP sends (``scim.get("/Users")``). Redirects are never followed, proxies
    from the environment are ignored, and every request has a timeout.
    """

    def __init__(
        self,
        tenant_url: str,
        token: str | None = None,
        *,
        accept: str | None = SCIM_JSON,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        require_loopback(tenant_url)
        self.tenant_url = tenant_url.rstrip("/")
        self.trust_env = False
        if accept is not None:
            self.headers["Accept"] = accept
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if headers:
            self.headers.update(headers)

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path``, relative to the tenant URL unless absolute."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.tenant_url}/{path.lstrip('/')}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        full = self.url(url.decode() if isinstance(url, bytes) else url)
        require_loopback(full)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, full, *args, **kwargs)


@dataclass(frozen=True)
class RawResponse:
    """A response read by :func:`raw_request`, for request lines ``requests`` would rewrite."""

    status_code: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def raw_request(
    url_without_query: str, raw_query: str, headers: dict[str, str], method: str = "GET"
) -> RawResponse:
    """Send a request whose query string goes on the wire byte for byte.

    ``requests`` percent-encodes characters such as ``"``; Entra has been seen sending
    ``?filter=userName+eq+"x%40y"`` with bare quotes, so that form needs a raw client.
    """
    require_loopback(url_without_query)
    parts = urlsplit(url_without_query)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, f"{parts.path}?{raw_query}", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", errors="replace")
        return RawResponse(resp.status, resp.headers, body)
    finally:
        conn.close()


def unique(prefix: str) -> str:
    """A name no other test (or earlier run against the same database) has used."""
    return f"{prefix}{secrets.token_hex(5)}"


def okta_user_id() -> str:
    """An Okta user id shaped like the ones Okta sends as ``externalId`` (``00u`` + 17 chars)."""
    alphabet = string.ascii_letters + string.digits
    return "00u" + "".join(secrets.choice(alphabet) for _ in range(17))


def filter_query(expression: str) -> str:
    """``filter=`` with the expression encoded the way Okta does it (``%20``, ``%22``, ``%40``)."""
    return "filter=" + quote(expression, safe="")


def describe(resp: Any) -> str:
    """A short transcript of a response, for assertion messages."""
    request = getattr(resp, "request", None)
    line = f"{request.method} {request.url}" if request is not None else "(raw request)"
    return f"{line} -> {resp.status_code}\nheaders: {dict(resp.headers)}\nbody: {resp.text[:3000]}"


def assert_status(resp: Any, *expected: int) -> None:
    assert resp.status_code in expected, f"expected {expected}, got:\n{describe(resp)}"


def media_type(resp: Any) -> str:
    return (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def assert_scim_json(resp: Any) -> Any:
    """The response is ``application/scim+json`` (RFC 7644 3.1) and parses; return the body."""
    assert media_type(resp) == SCIM_JSON, f"wrong Content-Type:\n{describe(resp)}"
    try:
        return resp.json()
    except ValueError as exc:
        raise AssertionError(f"body is not JSON:\n{describe(resp)}") from exc


def assert_resource(resp: Any, *expected_status: int, schema: str = USER_SCHEMA) -> dict[str, Any]:
    """A single resource came back with one of ``expected_status``; return its body."""
    assert_status(resp, *expected_status)
    body = assert_scim_json(resp)
    assert isinstance(body, dict), describe(resp)
    assert schema in body.get("schemas", []), f"schemas lack {schema}:\n{describe(resp)}"
    assert isinstance(body.get("id"), str) and body["id"], f"no id:\n{describe(resp)}"
    return body


def assert_scim_error(resp: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """An RFC 7644 3.12 error: Error schema, ``status`` as a string, a non-empty ``detail``."""
    assert_status(resp, status)
    body = assert_scim_json(resp)
    assert ERROR_SCHEMA in body.get("schemas", []), f"not an Error body:\n{describe(resp)}"
    assert body.get("status") == str(status), (
        f"status must be the string {status!r}:\n{describe(resp)}"
    )
    assert isinstance(body.get("detail"), str) and body["detail"], (
        f"empty detail:\n{describe(resp)}"
    )
    if scim_type is not None:
        assert body.get("scimType") == scim_type, f"scimType != {scim_type}:\n{describe(resp)}"
    return body


def assert_list_response(resp: Any) -> dict[str, Any]:
    """A 200 ListResponse whose paging fields are JSON integers (RFC 7644 3.4.2; Okta insists)."""
    assert_status(resp, 200)
    body = assert_scim_json(resp)
    assert LIST_RESPONSE_SCHEMA in body.get("schemas", []), f"not a ListResponse:\n{describe(resp)}"
    for key in ("totalResults", "startIndex", "itemsPerPage"):
        value = body.get(key)
        assert type(value) is int, f"{key} must be an integer, got {value!r}:\n{describe(resp)}"
    resources = body.get("Resources", [])
    assert isinstance(resources, list), describe(resp)
    assert body["itemsPerPage"] == len(resources), (
        f"itemsPerPage != len(Resources):\n{describe(resp)}"
    )
    if body["totalResults"] > 0 and body["itemsPerPage"] > 0:
        assert resources, describe(resp)
    return body


def assert_empty_list_response(resp: Any) -> dict[str, Any]:
    body = assert_list_response(resp)
    assert body["totalResults"] == 0, describe(resp)
    assert body.get("Resources", []) == [], describe(resp)
    return body


def assert_patch_accepted(resp: Any, schema: str = USER_SCHEMA) -> dict[str, Any] | None:
    """PATCH answers 200 with the resource or 204 without a body (RFC 7644 3.5.2)."""
    assert_status(resp, 200, 204)
    if resp.status_code == 204:
        assert not resp.content, f"204 with a body:\n{describe(resp)}"
        return None
    return assert_resource(resp, 200, schema=schema)


def member_ids(group: dict[str, Any]) -> set[str]:
    return {member["value"] for member in group.get("members") or []}
