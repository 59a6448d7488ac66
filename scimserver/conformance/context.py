"""Per-run state shared by the checks: the HTTP client, the run id, the server's advertised
features, lazily created test data, and the list of everything created (for cleanup).

The assertion helpers encode the generic RFC rules once: the SCIM media type
(RFC 7644 3.1/8.1), the ListResponse shape (RFC 7644 3.4.2), the Error shape
(RFC 7644 3.12) and the two PATCH answers (RFC 7644 3.5.2: ``200`` with the resource or
``204`` without a body).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

from .http import Exchange, ScimHttp
from .model import CheckFailed, CheckSkipped

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
SCIM_JSON = "application/scim+json"

ENDPOINTS = ("/Users", "/Groups")


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp message (RFC 7644 3.5.2)."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def q(expression: str) -> str:
    """Percent-encode a filter expression for a query string (RFC 3986 3.4)."""
    return quote(expression, safe="")


class _Failed:
    """Marker stored in the fixture cache when building the fixture failed."""

    def __init__(self, error: CheckFailed) -> None:
        self.error = error


class Context:
    """State of one run; one instance is shared by every check of the run."""

    def __init__(self, http: ScimHttp, run_id: str | None = None) -> None:
        self.http = http
        self.run_id = run_id or f"cf{secrets.token_hex(4)}"
        self.spc: dict[str, Any] | None = None
        self.spc_error: str | None = None
        self.resource_types: list[dict[str, Any]] = []
        self.created: list[tuple[str, str]] = []
        self.deleted: set[tuple[str, str]] = set()
        self.focus: Exchange | None = None
        self.actual: str | None = None
        self._fixtures: dict[str, Any] = {}
        self.state: dict[str, Any] = {}

    # -- naming ---------------------------------------------------------------------------

    def name(self, label: str) -> str:
        """A value unique to this run: ``<run id>-<label>``."""
        return f"{self.run_id}-{label}"

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Exchange:
        ex = self.http.request(method, path, body, **kwargs)
        self._track(ex)
        return ex

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Exchange:
        if params:
            path = f"{path}?{urlencode(params, quote_via=quote)}"
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Exchange:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Exchange:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> Exchange:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Exchange:
        return self.request("DELETE", path, **kwargs)

    def _track(self, ex: Exchange) -> None:
        """Remember every resource the run created (for cleanup) and every one it deleted."""
        base = ex.path.split("?")[0].rstrip("/")
        if ex.method == "POST" and base in ENDPOINTS and ex.status == 201:
            body = ex.json()
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.track(base, body["id"])
        elif ex.method == "DELETE" and ex.status in (200, 204):
            endpoint, _, rid = base.rpartition("/")
            self.deleted.add((endpoint, rid))

    def discard(self, ex: Exchange) -> None:
        """Delete a resource a check did not mean to create (e.g. an accepted duplicate),
        so that it cannot disturb later checks."""
        body = ex.json()
        base = ex.path.split("?")[0].rstrip("/")
        if ex.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), str):
            self.http.request("DELETE", f"{base}/{body['id']}")
            self.deleted.add((base, body["id"]))

    def track(self, endpoint: str, rid: str) -> None:
        if (endpoint, rid) not in self.created:
            self.created.append((endpoint, rid))

    # -- features -------------------------------------------------------------------------

    def feature(self, *keys: str) -> Any:
        """A ServiceProviderConfig value (RFC 7643 5), e.g. ``feature("etag", "supported")``."""
        node: Any = self.spc or {}
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    def require_feature(self, *keys: str) -> None:
        """Skip the check unless the ServiceProviderConfig advertises ``keys`` as true."""
        if self.spc is None:
            raise CheckSkipped(f"ServiceProviderConfig unavailable ({self.spc_error})")
        if self.feature(*keys) is not True:
            name = ".".join(keys)
            raise CheckSkipped(f"ServiceProviderConfig does not advertise {name} = true")

    def has_enterprise_extension(self) -> bool:
        for rtype in self.resource_types:
            if rtype.get("id") == "User" or rtype.get("endpoint") == "/Users":
                for ext in rtype.get("schemaExtensions") or []:
                    if isinstance(ext, dict) and ext.get("schema") == ENTERPRISE:
                        return True
        return False

    def require_enterprise(self) -> None:
        if not self.has_enterprise_extension():
            raise CheckSkipped(f"/ResourceTypes/User does not list the extension {ENTERPRISE}")

    # -- fixtures -------------------------------------------------------------------------

    def fixture(self, name: str, build: Callable[[Context], Any]) -> Any:
        """Build shared test data once; a failed build fails every check that needs it."""
        if name not in self._fixtures:
            try:
                self._fixtures[name] = build(self)
            except CheckFailed as exc:
                self._fixtures[name] = _Failed(exc)
        value = self._fixtures[name]
        if isinstance(value, _Failed):
            raise CheckFailed(
                f"setup of test data '{name}' failed: {value.error.actual}",
                value.error.expected,
            )
        return value

    def prerequisite(self, key: str) -> Any:
        """State left by an earlier step of a lifecycle; skip when that step failed."""
        if key not in self.state:
            raise CheckSkipped(f"prerequisite step did not succeed (no {key!r})")
        return self.state[key]

    # -- assertions -----------------------------------------------------------------------

    def fail(self, actual: str, expected: str | None = None) -> CheckFailed:
        return CheckFailed(actual, expected)

    def expect(self, condition: bool, actual: str, expected: str | None = None) -> None:
        if not condition:
            raise CheckFailed(actual, expected)

    def status(self, ex: Exchange, *codes: int) -> Exchange:
        """The response status is one of ``codes``."""
        self.focus = ex
        if ex.status not in codes:
            want = " or ".join(str(c) for c in codes)
            raise CheckFailed(f"{ex.method} {ex.path}: {ex.summary()}", f"HTTP {want}")
        return ex

    def body(self, ex: Exchange, *codes: int) -> dict[str, Any]:
        """Status in ``codes``, ``application/scim+json`` (RFC 7644 8.1) and a JSON object."""
        self.status(ex, *codes)
        if ex.media_type != SCIM_JSON:
            raise CheckFailed(
                f"{ex.method} {ex.path}: Content-Type {ex.header('Content-Type')!r}",
                f"Content-Type {SCIM_JSON} (RFC 7644 3.1, 8.1)",
            )
        data = ex.json()
        if not isinstance(data, dict):
            raise CheckFailed(f"{ex.method} {ex.path}: body is not a JSON object: {ex.summary()}")
        return data

    def resource(self, ex: Exchange, *codes: int, schema: str = USER) -> dict[str, Any]:
        """A single resource with ``schema`` in ``schemas`` and a non-empty ``id``."""
        data = self.body(ex, *codes)
        if schema not in (data.get("schemas") or []):
            raise CheckFailed(f"schemas lack {schema}: {ex.summary()}")
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise CheckFailed(f"resource without id: {ex.summary()}")
        return data

    def list_response(self, ex: Exchange) -> dict[str, Any]:
        """A 200 ListResponse with integer paging fields (RFC 7644 3.4.2)."""
        data = self.body(ex, 200)
        if LIST_RESPONSE not in (data.get("schemas") or []):
            raise CheckFailed(f"not a ListResponse: {ex.summary()}")
        total = data.get("totalResults")
        if type(total) is not int:
            raise CheckFailed(f"totalResults is {total!r}, not an integer: {ex.summary()}")
        for key in ("startIndex", "itemsPerPage"):
            if key in data and type(data[key]) is not int:
                raise CheckFailed(f"{key} is {data[key]!r}, not an integer: {ex.summary()}")
        resources = data.get("Resources", [])
        if not isinstance(resources, list):
            raise CheckFailed(f"Resources is not an array: {ex.summary()}")
        return data

    def error(self, ex: Exchange, status: int, scim_type: str | None = None) -> dict[str, Any]:
        """An RFC 7644 3.12 error: the Error schema, ``status`` as a string, ``scimType``."""
        want = f"HTTP {status}" + (f" scimType {scim_type}" if scim_type else "")
        self.focus = ex
        if ex.status != status:
            raise CheckFailed(f"{ex.method} {ex.path}: {ex.summary()}", want)
        data = ex.json()
        if not isinstance(data, dict) or ERROR not in (data.get("schemas") or []):
            raise CheckFailed(f"error body lacks the Error schema: {ex.summary()}", want)
        if data.get("status") != str(status):
            raise CheckFailed(
                f"Error status is {data.get('status')!r}: {ex.summary()}",
                f'"status": "{status}" (a string, RFC 7644 3.12)',
            )
        if scim_type is not None and data.get("scimType") != scim_type:
            raise CheckFailed(f"scimType is {data.get('scimType')!r}: {ex.summary()}", want)
        return data

    def patched(
        self, ex: Exchange, path: str, schema: str = USER, *, codes: Iterable[int] = (200, 204)
    ) -> dict[str, Any]:
        """The resource after a PATCH: the 200 body, or a fresh GET after a 204."""
        self.status(ex, *codes)
        if ex.status == 204:
            if ex.text.strip():
                raise CheckFailed(f"204 with a body: {ex.summary()}", "204 without a body")
            return self.resource(self.get(path), 200, schema=schema)
        return self.resource(ex, 200, schema=schema)

    # -- common reads ---------------------------------------------------------------------

    def search(
        self, endpoint: str, expression: str | None = None, **params: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any], Exchange]:
        """GET ``endpoint`` with ``filter``; the resources, the list body and the exchange."""
        query: dict[str, Any] = {}
        if expression is not None:
            query["filter"] = expression
        query.update(params)
        ex = self.get(endpoint, query)
        data = self.list_response(ex)
        return list(data.get("Resources") or []), data, ex

    def ids(self, endpoint: str, expression: str, **params: Any) -> tuple[set[str], Exchange]:
        params.setdefault("count", 200)
        resources, _, ex = self.search(endpoint, expression, **params)
        found = {r["id"] for r in resources if isinstance(r, dict) and isinstance(r.get("id"), str)}
        return found, ex

    def create(self, endpoint: str, body: dict[str, Any], schema: str = USER) -> dict[str, Any]:
        """Create test data; any failure here is reported as a failed setup."""
        ex = self.post(endpoint, body)
        if ex.status != 201:
            raise CheckFailed(f"POST {endpoint} for test data: {ex.summary()}", "HTTP 201")
        data = ex.json()
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise CheckFailed(f"POST {endpoint} returned no id: {ex.summary()}")
        return data

    def new_user(self, label: str, **attrs: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [USER], "userName": self.name(label)}
        body.update(attrs)
        return self.create("/Users", body)

    def new_group(self, label: str, **attrs: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [GROUP], "displayName": self.name(label)}
        body.update(attrs)
        return self.create("/Groups", body, schema=GROUP)

    # -- cleanup --------------------------------------------------------------------------

    def cleanup(self) -> dict[str, Any]:
        """Delete everything this run created, groups before users; report what was left."""
        pending = [item for item in self.created if item not in self.deleted]
        pending.sort(key=lambda item: 0 if item[0] == "/Groups" else 1)
        deleted, failed = 0, []
        for endpoint, rid in pending:
            ex = self.http.request("DELETE", f"{endpoint}/{rid}")
            if ex.status in (200, 204, 404):
                deleted += 1
                self.deleted.add((endpoint, rid))
            else:
                failed.append(f"DELETE {endpoint}/{rid}: {ex.summary(120)}")
        return {"created": len(self.created), "deleted_at_end": deleted, "failed": failed}
