"""Console sessions, CSRF protection and sign-in throttling.

* **Sessions** live in the database (:class:`~scimcore.storage.sql.admins.SqlAdminStore`):
  the ``scimserver_admin`` cookie carries 256 random bits, the database only their
  SHA-256. The cookie is ``HttpOnly``, ``SameSite=Lax``, limited to ``/admin`` and
  ``Secure`` whenever the public URL is https. A session ends after
  :data:`IDLE_TIMEOUT` without a request or :data:`ABSOLUTE_TIMEOUT` after sign-in.
* **CSRF**: every form carries a token (synchronizer pattern): the session's own
  random token once signed in; before that (the sign-in form) a random value also
  set as a cookie (double submit). Any unsafe request without the right token is
  refused with 400 before the view runs.
* **Throttling**: :data:`MAX_FAILURES` wrong passwords for one email from one client
  address within :data:`FAILURE_WINDOW` refuse further attempts with 429 until the
  window has passed, whatever the password. Counted in the database, so all workers
  share it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Request, abort, g, request
from werkzeug.wrappers import Response as BaseResponse

from scimcore.auth import same_secret
from scimcore.storage.sql.admins import AdminSession, SqlAdminStore

SESSION_COOKIE = "scimserver_admin"
LOGIN_CSRF_COOKIE = "scimserver_admin_csrf"
COOKIE_PATH = "/admin"
IDLE_TIMEOUT = timedelta(hours=2)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool

    def set(self, response: BaseResponse, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def clear(self, response: BaseResponse, name: str) -> None:
        response.delete_cookie(
            name, path=COOKIE_PATH, secure=self.secure, httponly=True, samesite="Lax"
        )


class Sessions:
    """Load, open and close console sessions for the current request."""

    def __init__(self, admins: SqlAdminStore, cookies: CookiePolicy) -> None:
        self.admins = admins
        self.cookies = cookies

    def load(self, req: Request) -> None:
        """Set ``g.admin_session`` (or None) and ``g.session_expired``."""
        g.admin_session = None
        g.session_expired = False
        raw = req.cookies.get(SESSION_COOKIE)
        if not raw or len(raw) > 100:
            return
        found = self.admins.get_session(_sha256(raw))
        if found is None:
            g.session_expired = True
            return
        now = _now()
        if now >= found.expires_at or now - found.last_seen >= IDLE_TIMEOUT:
            self.admins.delete_session(found.id_hash)
            g.session_expired = True
            return
        if now - found.last_seen >= TOUCH_INTERVAL:
            self.admins.touch_session(found.id_hash, now)
        g.admin_session = found

    def open(self, response: BaseResponse, admin_id: str) -> None:
        raw = secrets.token_urlsafe(32)
        self.admins.create_session(
            _sha256(raw), admin_id, secrets.token_urlsafe(32), _now() + ABSOLUTE_TIMEOUT
        )
        self.cookies.set(response, SESSION_COOKIE, raw, int(ABSOLUTE_TIMEOUT.total_seconds()))
        self.cookies.clear(response, LOGIN_CSRF_COOKIE)

    def close(self, response: BaseResponse) -> None:
        current: AdminSession | None = g.get("admin_session")
        if current is not None:
            self.admins.delete_session(current.id_hash)
        self.cookies.clear(response, SESSION_COOKIE)


def csrf_token() -> str:
    """The token to put in this page's forms (creates the sign-in one if needed)."""
    current: AdminSession | None = g.get("admin_session")
    if current is not None:
        return current.csrf_token
    token = g.get("login_csrf") or request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(32)
        g.new_login_csrf = token
    g.login_csrf = token
    return str(token)


def check_csrf(req: Request) -> None:
    """Refuse (400) an unsafe request whose token is missing or wrong."""
    if req.method not in UNSAFE_METHODS:
        return
    sent = req.headers.get(CSRF_HEADER) or req.form.get(CSRF_FIELD) or ""
    current: AdminSession | None = g.get("admin_session")
    expected = current.csrf_token if current is not None else req.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not same_secret(sent, expected):
        abort(
            400,
            description="The form was missing its security token or it was wrong. "
            "Reload the page and try again.",
        )


class Throttle:
    """Failed sign-ins per (email, client address)."""

    def __init__(self, admins: SqlAdminStore) -> None:
        self.admins = admins

    @staticmethod
    def key(email: str, address: str | None) -> str:
        return _sha256(f"{email.strip().lower()}|{address or '-'}")

    def blocked(self, key: str) -> bool:
        return self.admins.count_failures(key, _now() - FAILURE_WINDOW) >= MAX_FAILURES

    def failed(self, key: str) -> None:
        self.admins.record_failure(key, _now())

    def succeeded(self, key: str) -> None:
        self.admins.clear_failures(key, _now() - FAILURE_WINDOW)
