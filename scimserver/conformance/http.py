"""A minimal SCIM HTTP client on the standard library (``urllib.request``).

The runner may be pointed at any server, so the client is deliberately conservative:

* every request has an explicit timeout;
* redirects are never followed (a 3xx is returned to the check as-is), so the runner
  cannot be bounced to another host;
* proxies from the environment are ignored;
* every URL is checked to lie under the base URL the user gave (same scheme, host and
  port, path below the base path) before anything is sent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

SCIM_JSON = "application/scim+json"
DEFAULT_TIMEOUT = 20.0
MAX_RECORDED_BODY = 4000


class OutsideBaseUrl(ValueError):
    """Raised before sending a request whose URL is not under the runner's base URL."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse to follow redirects: a 3xx reaches the caller as an ``HTTPError``."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


@dataclass
class Exchange:
    """One request and its response, as recorded for the report."""

    method: str
    path: str
    request_headers: dict[str, str]
    request_body: Any
    status: int
    headers: dict[str, str]
    text: str
    error: str | None = None
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    def header(self, name: str) -> str | None:
        """A response header, looked up case-insensitively (RFC 9110 5.1)."""
        lower = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lower:
                return value
        return None

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.text) if self.text.strip() else None
            except ValueError:
                self._json = None
        return self._json

    def summary(self, limit: int = 300) -> str:
        """``HTTP 201`` plus the start of the body, for the report's *actual* column."""
        if self.error:
            return f"no HTTP response: {self.error}"
        body = " ".join(self.text.split())
        if len(body) > limit:
            body = body[:limit] + "…"
        return f"HTTP {self.status}" + (f" {body}" if body else "")

    def request_record(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.request_body}


class ScimHttp:
    """Sends requests relative to one base URL and records every exchange."""

    def __init__(
        self, base_url: str, token: str | None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise OutsideBaseUrl(f"{base_url!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise OutsideBaseUrl(f"{base_url!r}: the base URL must not carry a query")
        self.base_url = base_url.rstrip("/")
        self._base = urlsplit(self.base_url)
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        self.log: list[Exchange] = []

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (relative to the base URL) after the safety check."""
        full = f"{self.base_url}/{path.lstrip('/')}"
        self._require_under_base(full)
        return full

    def _require_under_base(self, url: str) -> None:
        parts = urlsplit(url)
        base_path = self._base.path.rstrip("/") + "/"
        segments = parts.path.split("/")
        if (
            (parts.scheme, parts.netloc) != (self._base.scheme, self._base.netloc)
            or not (parts.path.rstrip("/") + "/").startswith(base_path)
            or "." in segments
            or ".." in segments
        ):
            raise OutsideBaseUrl(f"refusing to contact {url!r}: not under {self.base_url}")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        content_type: str = SCIM_JSON,
        raw_body: bytes | None = None,
    ) -> Exchange:
        """Send one request; HTTP errors and network failures become an :class:`Exchange`."""
        url = self.url(path)
        sent: dict[str, str] = {"Accept": SCIM_JSON}
        data: bytes | None = raw_body
        if body is not None and raw_body is None:
            data = json.dumps(body).encode("utf-8")
        if data is not None:
            sent["Content-Type"] = content_type
        if auth and self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=sent)
        status, resp_headers, text, error = 0, {}, "", None
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status = resp.status
                resp_headers = dict(resp.headers.items())
                text = resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            status = exc.code
            resp_headers = dict(exc.headers.items()) if exc.headers else {}
            try:
                text = exc.read().decode("utf-8", errors="replace")
            except OSError:
                text = ""
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            early = self._early_response(method, url, sent, data, exc)
            if early is not None:
                (status, resp_headers, text), error = early, None
        recorded_headers = {
            k: ("Bearer ***" if k == "Authorization" and auth else v) for k, v in sent.items()
        }
        exchange = Exchange(
            method=method,
            path=self._relative(url),
            request_headers=recorded_headers,
            request_body=body if raw_body is None else raw_body.decode("utf-8", "replace"),
            status=status,
            headers=resp_headers,
            text=text,
            error=error,
        )
        self.log.append(exchange)
        return exchange

    def _early_response(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        exc: BaseException,
    ) -> tuple[int, dict[str, str], str] | None:
        """The answer a server sent before it stopped reading the body.

        A server may answer an oversized body (413) and close the connection while the
        client is still sending; urllib then reports a broken pipe and drops the answer
        already in the socket's buffer. Send once more, keep going after the pipe
        breaks, and read what came back.
        """
        reason = getattr(exc, "reason", exc)
        if data is None or not isinstance(reason, BrokenPipeError | ConnectionResetError):
            return None
        parts = urlsplit(url)
        conn_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_class(parts.netloc, timeout=self.timeout)
        try:
            conn.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                conn.putheader(name, value)
            conn.endheaders()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.send(data)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", errors="replace")
            return resp.status, dict(resp.getheaders()), text
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def _relative(self, url: str) -> str:
        path = url[len(self.base_url) :] or "/"
        if self.token:
            path = path.replace(self.token, "***")
        return path
