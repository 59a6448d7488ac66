"""The one HTTP client of connectors and of the OAuth token calls (standard library).

:func:`exchange` is the transport: every request has a deadline for the whole exchange
(not only per socket read), the body read is capped, redirects are refused (a
redirect would carry the credentials to wherever it points), and network failures
become :class:`~.errors.TransientError`. Outbound proxies are those of the environment
(``HTTPS_PROXY``/``HTTP_PROXY``, except the hosts of ``NO_PROXY``), as corporate
networks require; loopback addresses are always reached directly. :func:`send` is
JSON over it with the integration's :class:`~.base.Auth`. Nothing here logs or formats
a header value.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...provisioning.connector import Auth, HttpRequest
from ...provisioning.errors import (
    AuthenticationFailed,
    ConnectorError,
    InvalidResponse,
    PermanentError,
    RateLimited,
    TransientError,
)

#: Longest Retry-After we honour; a server asking for more gets this.
MAX_RETRY_AFTER = 3600.0
_CHUNK = 64 * 1024
_EXCERPT = 200
_SECRETISH = re.compile(r"(?i)(bearer|basic|ssws|token|secret|password|key)([\s:=\"']+)\S+")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _opener(host: str | None) -> urllib.request.OpenerDirector:
    """Direct for loopback hosts; else through the environment's proxy, read at each
    call (the handler built without arguments reads it and honours ``NO_PROXY``)."""
    if host is None or _loopback(host):
        return _DIRECT
    return urllib.request.build_opener(urllib.request.ProxyHandler(), _NoRedirect())


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Every ``Set-Cookie`` header (``headers`` keeps one value a name), for the
    #: connectors that sign in through a form and keep a session cookie.
    cookies: tuple[str, ...] = ()

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidResponse(
                f"the response (HTTP {self.status}) is not valid JSON", status=self.status
            ) from None


def send(
    method: str,
    url: str,
    *,
    auth: Auth,
    timeout: float,
    max_bytes: int,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> HttpResponse:
    """Send one request and return the response, whatever its status.

    Network failures and timeouts raise :class:`~.errors.TransientError`; a body over
    ``max_bytes`` raises :class:`~.errors.InvalidResponse`.
    """
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise PermanentError(f"only http and https URLs are supported, not {scheme!r}")
    body = None if json_body is None else json.dumps(json_body).encode()
    request = HttpRequest(
        method, url, {"Accept": f"{content_type}, application/json", **(headers or {})}, body
    )
    if body is not None:
        request.headers["Content-Type"] = content_type
    auth.apply(request)
    return exchange(
        request.method,
        request.url,
        body=request.body,
        headers=request.headers,
        timeout=timeout,
        max_bytes=max_bytes,
    )


def exchange(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
) -> HttpResponse:
    """One request, its response whatever the status; see the module docstring."""
    deadline = time.monotonic() + timeout
    raw = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _opener(urlsplit(url).hostname).open(raw, timeout=timeout) as resp:
            return HttpResponse(
                resp.status,
                _headers(resp.headers),
                _read(resp, deadline, max_bytes, resp.status),
                _cookies(resp.headers),
            )
    except urllib.error.HTTPError as err:
        try:
            data = _read(err, deadline, max_bytes, err.code)
        except ConnectorError:
            data = b""
        finally:
            err.close()
        return HttpResponse(err.code, _headers(err.headers), data, _cookies(err.headers))
    except TimeoutError:
        raise TransientError(f"{method} {_where(url)} timed out after {timeout:g}s") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError | socket.timeout):
            raise TransientError(f"{method} {_where(url)} timed out after {timeout:g}s") from None
        raise TransientError(f"{method} {_where(url)} failed: {err.reason}") from None
    except (ConnectionError, OSError, ValueError) as err:
        raise TransientError(f"{method} {_where(url)} failed: {type(err).__name__}") from None


def _read(resp: Any, deadline: float, max_bytes: int, status: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TransientError("the response did not arrive in time", status=status)
        chunk = resp.read(min(_CHUNK, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise InvalidResponse(
                f"the response is larger than {max_bytes} bytes; refused", status=status
            )


def _headers(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _cookies(headers: Any) -> tuple[str, ...]:
    get_all = getattr(headers, "get_all", None)
    return tuple(str(v) for v in (get_all("Set-Cookie") or ())) if callable(get_all) else ()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


def excerpt(text: str) -> str:
    """A short, single-line excerpt of remote text, with anything secret-looking masked."""
    flat = " ".join(text.split())[:_EXCERPT]
    return _SECRETISH.sub(lambda m: f"{m.group(1)}{m.group(2)}***", flat)


def raise_for_status(resp: HttpResponse, what: str) -> None:
    """Turn a non-2xx response into the typed error the engine acts on."""
    status = resp.status
    if 200 <= status < 300:
        return
    detail = _detail(resp)
    message = f"{what}: HTTP {status}{': ' + detail if detail else ''}"
    if status == 403 and _reasons(resp) & QUOTA_REASONS:
        # Google answers an exhausted quota with 403, not 429: wait, do not re-auth.
        raise RateLimited(
            message, retry_after=retry_after(resp.headers.get("retry-after")), status=status
        )
    if status in (401, 403):
        raise AuthenticationFailed(message, status=status)
    if status == 429 or (status == 503 and "retry-after" in resp.headers):
        raise RateLimited(
            message, retry_after=retry_after(resp.headers.get("retry-after")), status=status
        )
    if status in (408, 425) or status >= 500:
        raise TransientError(message, status=status)
    raise PermanentError(message, status=status)


#: Error reasons with which Google APIs say "a quota is used up" (with HTTP 403).
QUOTA_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)


def _document(resp: HttpResponse) -> Any:
    try:
        return json.loads(resp.body) if resp.body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _detail(resp: HttpResponse) -> str:
    """What the service said went wrong: SCIM's ``scimType``/``detail``, or the
    ``error.message`` of Google's and Microsoft Graph's error bodies."""
    data = _document(resp)
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get(k)) for k in ("scimType", "detail") if isinstance(data.get(k), str)]
    error = data.get("error")
    if isinstance(error, dict):
        parts += [str(error[k]) for k in ("code", "message") if isinstance(error.get(k), str)]
    return excerpt(" ".join(parts))


def _reasons(resp: HttpResponse) -> set[str]:
    """The ``error.errors[].reason`` values of a Google API error body."""
    data = _document(resp)
    error = data.get("error") if isinstance(data, dict) else None
    items = error.get("errors") if isinstance(error, dict) else None
    if not isinstance(items, list):
        return set()
    return {str(e["reason"]) for e in items if isinstance(e, dict) and "reason" in e}
