"""One SCIM fake that behaves as a catalog entry documents (tests/connectors/fakes.py's
``FakeScim`` with the vendor's deviations enforced).

Given a :class:`ScimProfile`, it refuses a filter on an attribute the vendor does not
filter on (400 ``invalidFilter``), caps ``count`` at the vendor's page size (as Slack
does: silently), refuses a user without a required attribute or with a value over the
documented length (400 ``invalidValue``), refuses a PATCH form the vendor refuses
(405 with no PATCH, 400 ``invalidPath`` without a path where one is required), answers
``DELETE`` as documented (a soft delete only deactivates; none is 405), lists only
active users where the vendor does, and, with ``enforce_pacing``, answers a request
that comes sooner than the documented interval with 429 and ``Retry-After``. Where a
vendor does not document the status of a refusal, the fake answers RFC 7644's.
Every refusal is recorded in ``refused``, so a test can show the connector never
provoked one.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scimcore.adapters.connectors.scim_profiles import RFC, ScimProfile

from .fakes import FakeScim, _json

_FILTER_ATTRIBUTE = re.compile(r"^\s*([A-Za-z.]+)\s+eq\s", re.IGNORECASE)
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

Answer = tuple[int, dict[str, str], bytes]


def _error(status: int, scim_type: str | None, detail: str) -> Answer:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _json(status, body)


def _has(profile: ScimProfile, key: str) -> bool:
    return any(d.key == key for d in profile.deviations)


def _value(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _value_form(body: bytes) -> bytes:
    """A PATCH body with ``path`` operations rewritten to the value form the base fake
    applies (``{"path": "active", "value": false}`` -> ``{"value": {"active": false}}``)."""
    doc = json.loads(body or b"{}")
    for op in doc.get("Operations") or []:
        if "path" in op:
            op["value"] = {op.pop("path"): op["value"]}
    return json.dumps(doc).encode()


@dataclass
class QuirkyScim(FakeScim):
    """``FakeScim`` behaving as ``profile`` documents; see the module docstring."""

    profile: ScimProfile = RFC
    enforce_pacing: bool = False
    #: "METHOD path: reason" of every request refused for a documented deviation.
    refused: list[str] = field(default_factory=list)
    #: The ``count`` of every listing asked for.
    counts: list[int] = field(default_factory=list)
    _last: float = 0.0

    def handle(self, method: str, path: str, body: bytes, auth: str | None) -> Answer:
        if auth != f"Bearer {self.token}":
            return super().handle(method, path, body, auth)
        answer = self._quirk(method, path, body)
        if answer is not None:
            with self.lock:
                self.requests.append((method, path))
                if answer[0] != 429:
                    self.refused.append(f"{method} {path}: {answer[0]}")
            return answer
        if method == "GET" and urlsplit(path).path.rstrip("/") == "/Users":
            with self.lock:
                self.requests.append((method, path))
            return self._listing(path)
        if method == "DELETE" and self.profile.delete == "soft":
            with self.lock:
                self.requests.append((method, path))
            return self._soft_delete(path)
        if method == "PATCH":
            body = _value_form(body)
        return super().handle(method, path, body, auth)

    # -- what the vendor refuses ----------------------------------------------------------

    def _quirk(self, method: str, path: str, body: bytes) -> Answer | None:
        pacing = self.profile.pacing
        if self.enforce_pacing and pacing is not None:
            now = time.monotonic()
            wait = self._last + pacing.min_interval_ms / 1000 - now
            if wait > 0:
                headers = {"Retry-After": str(math.ceil(wait)), "Content-Type": "application/json"}
                return 429, headers, b'{"detail":"rate limited"}'
            self._last = now
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        if method == "GET" and "filter" in query:
            m = _FILTER_ATTRIBUTE.match(query["filter"][0])
            if m is None or not self.profile.filters(m.group(1)):
                return _error(400, "invalidFilter", f"unsupported filter {query['filter'][0]}")
        if method in ("POST", "PUT"):
            return self._check_document(json.loads(body or b"{}"))
        if method == "PATCH":
            return self._check_patch(json.loads(body or b"{}"))
        if method == "DELETE" and self.profile.delete == "none":
            return _error(405, None, "users are deactivated, not deleted")
        return None

    def _check_document(self, doc: dict[str, Any]) -> Answer | None:
        for attribute in self.profile.required_attributes:
            if not _value(doc, attribute):
                return _error(400, "invalidValue", f"{attribute} is required")
        for attribute, longest in self.profile.max_lengths.items():
            value = _value(doc, attribute)
            if isinstance(value, str) and len(value) > longest:
                return _error(400, "invalidValue", f"{attribute} is too long")
        return None

    def _check_patch(self, doc: dict[str, Any]) -> Answer | None:
        if self.profile.patch == "none":
            return _error(405, None, "PATCH is not supported")
        operations = doc.get("Operations") or []
        if self.profile.patch == "path" and any("path" not in op for op in operations):
            return _error(400, "invalidPath", "each operation needs a path")
        return None

    # -- what the vendor answers differently ------------------------------------------------

    def _listing(self, path: str) -> Answer:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        count = int(query.get("count", ["100"])[0])
        with self.lock:
            self.counts.append(count)
        if self.profile.max_page_size:
            query["count"] = [str(min(count, self.profile.max_page_size))]
        hidden: dict[str, dict[str, Any]] = {}
        if _has(self.profile, "inactive_not_listed"):
            with self.lock:
                hidden = {k: u for k, u in self.users.items() if u.get("active") is False}
                for k in hidden:
                    del self.users[k]
        try:
            with self.lock:
                return self._list(query)
        finally:
            with self.lock:
                self.users.update(hidden)

    def _soft_delete(self, path: str) -> Answer:
        uid = urlsplit(path).path.rstrip("/").split("/")[-1]
        with self.lock:
            user = self.users.get(uid)
            if user is None:
                return _error(404, None, "not found")
            user["active"] = False
        return 204, {}, b""
