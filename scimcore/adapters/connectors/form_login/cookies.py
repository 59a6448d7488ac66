"""A cookie jar for one sign-in to one site.

Deliberately smaller than :mod:`http.cookiejar`: form_login talks to a single origin
(every URL is checked against the recipe's base URL before it is requested), so
``Domain`` never widens anything and is ignored; what matters is keeping the session
and CSRF cookies, honouring ``Path``, ``Secure``, ``Max-Age``/``Expires`` (a cookie
deleted by the service is dropped), and never letting the jar grow without bound.
Values are never logged and the ``repr`` shows only cookie names.
"""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from dataclasses import dataclass

#: A site setting more cookies than this keeps the newest.
MAX_COOKIES = 64
MAX_COOKIE_BYTES = 8192


@dataclass
class _Cookie:
    value: str
    path: str
    secure: bool
    expires: float | None


class CookieJar:
    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str], _Cookie] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        with self._lock:
            return f"CookieJar({sorted(name for name, _ in self._cookies)})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._cookies)

    def store(self, set_cookie: str, request_path: str, now: float | None = None) -> None:
        """Keep (or delete) the cookie of one ``Set-Cookie`` header value."""
        if len(set_cookie) > MAX_COOKIE_BYTES:
            return
        now = time.time() if now is None else now
        first, *attributes = set_cookie.split(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            return
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        path = _default_path(request_path)
        secure = False
        expires: float | None = None
        max_age_seen = False
        for attribute in attributes:
            key, _, arg = attribute.partition("=")
            key, arg = key.strip().lower(), arg.strip()
            if key == "path" and arg.startswith("/"):
                path = arg
            elif key == "secure":
                secure = True
            elif key == "max-age":
                try:
                    expires = now + int(arg)
                    max_age_seen = True
                except ValueError:
                    pass
            elif key == "expires" and not max_age_seen:
                with contextlib.suppress(TypeError, ValueError, IndexError):
                    expires = email.utils.parsedate_to_datetime(arg).timestamp()
        with self._lock:
            self._cookies.pop((name, path), None)
            if expires is not None and expires <= now:
                return  # the service deleted it
            self._cookies[(name, path)] = _Cookie(value, path, secure, expires)
            while len(self._cookies) > MAX_COOKIES:
                del self._cookies[next(iter(self._cookies))]

    def header(self, path: str, *, https: bool, now: float | None = None) -> str | None:
        """The ``Cookie`` header for a request to ``path``, longest paths first."""
        now = time.time() if now is None else now
        with self._lock:
            chosen = [
                (name, c)
                for (name, _), c in self._cookies.items()
                if (c.expires is None or c.expires > now)
                and (https or not c.secure)
                and _path_matches(path, c.path)
            ]
        if not chosen:
            return None
        chosen.sort(key=lambda item: -len(item[1].path))
        return "; ".join(f"{name}={c.value}" for name, c in chosen)


def _default_path(request_path: str) -> str:
    """RFC 6265 5.1.4: the request path up to its last ``/``."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 5.1.4."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False
