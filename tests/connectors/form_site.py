"""A small admin web application with no API, on 127.0.0.1, for the form_login tests.

What a person sees: a sign-in form with a CSRF token bound to a session cookie, a
second step asking for an RFC 6238 code (checked here with the site's own
implementation, not the connector's), a lockout after ``max_failures`` wrong
passwords, a CAPTCHA mode, a member table paged ``page_size`` rows at a time, and
invite, disable, enable and remove forms that each carry the session's CSRF token.
Every request is recorded (``requests``; ``password_posts`` counts the sign-in
POSTs), so tests can tell exactly what the connector did.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADMIN = "admin@acme.test"
PASSWORD = "correct horse battery staple"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def site_totp(seed: str, at: float) -> str:
    """RFC 6238 with SHA-1, 30 s, 6 digits: the site's own check."""
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(int.from_bytes(mac[offset : offset + 4], 'big') & 0x7FFFFFFF) % 1_000_000:06d}"


@dataclass
class Member:
    id: int
    email: str
    name: str
    status: str = "Active"  # Active, Invited, Disabled


@dataclass
class _Session:
    csrf: str
    user: str | None = None
    identified: str | None = None  # identifier first: the username given
    pending: str | None = None  # signed in with the password, waiting for the code


@dataclass
class FormSite:
    totp_required: bool = True
    #: A CAPTCHA widget on the sign-in page (and a sign-in refused without it).
    captcha: bool = False
    #: No widget on the page, but a sign-in refused with "prove you are not a robot".
    captcha_on_submit: bool = False
    #: The username on one page, the password on the next.
    identifier_first: bool = False
    max_failures: int = 3
    page_size: int = 3
    members: dict[int, Member] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    failures: int = 0
    #: (method, path, form fields) of every request, in order.
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    used_steps: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _next_id: int = 100

    def add(self, email: str, name: str = "", status: str = "Active") -> Member:
        with self.lock:
            self._next_id += 1
            member = Member(self._next_id, email, name or email.split("@")[0].title(), status)
            self.members[member.id] = member
            return member

    def by_email(self, email: str) -> Member | None:
        return next((m for m in self.members.values() if m.email == email.lower()), None)

    @property
    def password_posts(self) -> int:
        return sum(1 for m, p, _ in self.requests if m == "POST" and p == "/session")

    @property
    def code_posts(self) -> int:
        return sum(1 for m, p, _ in self.requests if m == "POST" and p == "/session/two-factor")

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    @property
    def locked(self) -> bool:
        return self.failures >= self.max_failures

    # -- the application -------------------------------------------------------------------

    def handle(
        self, method: str, target: str, body: bytes, cookies: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], str]:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        with self.lock:
            self.requests.append((method, path, form))
            sid = cookies.get("acme_sid")
            session = self.sessions.get(sid or "")
            headers: list[tuple[str, str]] = []
            if session is None:
                sid, session = self._new_session(headers)
            if method == "POST" and not hmac.compare_digest(
                form.get("authenticity_token", ""), session.csrf
            ):
                return 422, headers, _page("Error", "<p>Invalid authenticity token.</p>")
            if path in ("/", "/login") and method == "GET":
                return 200, headers, self._login_page(session)
            if path == "/app/login" and method == "GET":  # the same sign-in, built by script
                return (
                    200,
                    headers,
                    (
                        '<!DOCTYPE html><html><head><script src="/app.js"></script></head>'
                        '<body><div id="root"></div>'
                        "<noscript>You need to enable JavaScript to run this app.</noscript>"
                        "</body></html>"
                    ),
                )
            if path == "/session/identify" and method == "POST":
                session.identified = form.get("user[email]")
                return 303, [*headers, ("Location", "/login/password")], ""
            if path == "/login/password" and method == "GET" and session.identified:
                return 200, headers, self._login_page(session, identified=session.identified)
            if path == "/session" and method == "POST":
                return self._password(form, session, sid or "", headers)
            if path == "/session/two-factor":
                return self._code(method, form, session, sid or "", headers)
            if session.user is None:
                return 302, [*headers, ("Location", "/login")], ""
            return self._admin(method, path, query, form, session, headers)

    def _new_session(self, headers: list[tuple[str, str]]) -> tuple[str, _Session]:
        sid = secrets.token_urlsafe(16)
        session = _Session(secrets.token_urlsafe(24))
        self.sessions[sid] = session
        headers.append(("Set-Cookie", f"acme_sid={sid}; Path=/; HttpOnly; SameSite=Lax"))
        return sid, session

    def _login_page(self, session: _Session, error: str = "", identified: str = "") -> str:
        flash = f'<p class="flash alert">{html.escape(error)}</p>' if error else ""
        captcha = '<div class="g-recaptcha" data-sitekey="6Lc-test"></div>' if self.captcha else ""
        action = "/session"
        email = '<label>Email <input type="email" name="user[email]" autofocus></label>'
        password = '<label>Password <input type="password" name="user[password]"></label>'
        if identified:
            email = f'<input type="hidden" name="user[email]" value="{html.escape(identified)}">'
        elif self.identifier_first:
            action, password = "/session/identify", ""
        return _page(
            "Sign in to Acme",
            f"""{flash}
            <form id="new_session" action="{action}" method="post" accept-charset="UTF-8">
              <input type="hidden" name="authenticity_token" value="{session.csrf}">
              {email}
              {password}
              <label><input type="checkbox" name="user[remember_me]" value="1"> Remember</label>
              {captcha}
              <button type="submit" name="commit" value="Sign in">Sign in</button>
            </form>
            <p><a href="/password/new">Forgot your password?</a></p>""",
        )

    def _password(
        self, form: dict[str, str], session: _Session, sid: str, headers: list[tuple[str, str]]
    ) -> tuple[int, list[tuple[str, str]], str]:
        if self.captcha or self.captcha_on_submit:
            return 200, headers, self._login_page(session, "Please prove you are not a robot.")
        if self.locked:
            return 403, headers, self._login_page(session, "Your account is locked.")
        if form.get("commit") != "Sign in":
            return 400, headers, _page("Error", "<p>No button.</p>")
        if form.get("user[email]") != ADMIN or form.get("user[password]") != PASSWORD:
            self.failures += 1
            if self.locked:
                return 403, headers, self._login_page(session, "Your account is locked.")
            return 200, headers, self._login_page(session, "Invalid Email or password.")
        self.failures = 0
        if self.totp_required:
            session.pending = ADMIN
            return 302, [*headers, ("Location", "/session/two-factor")], ""
        return self._signed_in(sid, headers)

    def _signed_in(
        self, old_sid: str, headers: list[tuple[str, str]]
    ) -> tuple[int, list[tuple[str, str]], str]:
        # A new session id at sign-in (no session fixation): the jar must replace it.
        self.sessions.pop(old_sid, None)
        headers = [h for h in headers if not h[1].startswith("acme_sid=")]
        _, session = self._new_session(headers)
        session.user = ADMIN
        headers.append(("Set-Cookie", "acme_pre=; Path=/; Max-Age=0"))
        return 303, [*headers, ("Location", "/admin")], ""

    def _code(
        self,
        method: str,
        form: dict[str, str],
        session: _Session,
        sid: str,
        headers: list[tuple[str, str]],
    ) -> tuple[int, list[tuple[str, str]], str]:
        if session.pending is None:
            return 302, [*headers, ("Location", "/login")], ""
        error = ""
        if method == "POST":
            now = time.time()
            for step in (-1, 0, 1):
                at = now + 30 * step
                if hmac.compare_digest(form.get("otp_attempt", ""), site_totp(SEED, at)):
                    if int(at // 30) in self.used_steps:
                        break  # a code works once (RFC 6238 5.2)
                    self.used_steps.add(int(at // 30))
                    session.pending = None
                    return self._signed_in(sid, headers)
            error = '<p class="flash alert">Invalid two-factor code.</p>'
        return (
            200,
            headers,
            _page(
                "Two-factor authentication",
                f"""{error}
                <form class="two-factor" action="/session/two-factor" method="post">
                  <input type="hidden" name="authenticity_token" value="{session.csrf}">
                  <input type="text" name="otp_attempt" inputmode="numeric"
                         autocomplete="one-time-code">
                  <input type="submit" value="Verify">
                </form>""",
            ),
        )

    def _admin(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        form: dict[str, str],
        session: _Session,
        headers: list[tuple[str, str]],
    ) -> tuple[int, list[tuple[str, str]], str]:
        if path == "/admin" and method == "GET":
            return 200, headers, _page("Dashboard", "<p>Welcome.</p>", signed_in=True)
        if path == "/admin/members" and method == "GET":
            page = int((query.get("page") or ["1"])[0])
            return 200, headers, self._members_page(page, session)
        if path == "/admin/members/new" and method == "GET":
            return 200, headers, self._invite_page(session)
        if path == "/admin/members" and method == "POST":
            email = form.get("member[email]", "").strip().lower()
            if "@" not in email:
                return 200, headers, self._invite_page(session, "Email is invalid.")
            if self.by_email(email) is not None:
                return 200, headers, self._invite_page(session, "Email is already a member.")
            self._next_id += 1
            self.members[self._next_id] = Member(
                self._next_id, email, form.get("member[name]") or email, "Invited"
            )
            return 303, [*headers, ("Location", "/admin/members")], ""
        parts = path.split("/")
        if len(parts) == 5 and parts[:3] == ["", "admin", "members"] and method == "POST":
            member = self.members.get(int(parts[3])) if parts[3].isdigit() else None
            if member is None:
                return 404, headers, _page("Not found", "<p>No such member.</p>", signed_in=True)
            if parts[4] == "disable":
                member.status = "Disabled"
            elif parts[4] == "enable":
                member.status = "Active"
            elif parts[4] == "remove" and form.get("confirm") == "yes":
                del self.members[member.id]
            else:
                return 400, headers, _page("Error", "<p>Unknown action.</p>", signed_in=True)
            return 303, [*headers, ("Location", "/admin/members")], ""
        return 404, headers, _page("Not found", "<p>Not found.</p>", signed_in=True)

    def _members_page(self, page: int, session: _Session) -> str:
        ordered = sorted(self.members.values(), key=lambda m: m.id)
        start = (page - 1) * self.page_size
        rows = []
        for m in ordered[start : start + self.page_size]:
            toggle = "enable" if m.status == "Disabled" else "disable"
            email = html.escape(m.email)
            rows.append(
                f"""<tr data-member-id="{m.id}">
                  <td class="name">{html.escape(m.name)}</td>
                  <td class="email"><a href="mailto:{email}">{email}</a></td>
                  <td><span class="badge">{m.status}</span></td>
                  <td class="actions">
                    <form class="{toggle}" action="/admin/members/{m.id}/{toggle}" method="post">
                      <input type="hidden" name="authenticity_token" value="{session.csrf}">
                      <button type="submit">{toggle.title()}</button>
                    </form>
                    <form class="remove" action="/admin/members/{m.id}/remove" method="post">
                      <input type="hidden" name="authenticity_token" value="{session.csrf}">
                      <input type="hidden" name="confirm" value="no">
                      <button type="submit">Remove</button>
                    </form>
                  </td>
                </tr>"""
            )
        more = start + self.page_size < len(ordered)
        pager = f'<a rel="next" href="/admin/members?page={page + 1}">Next</a>' if more else ""
        return _page(
            "Members",
            f"""<table id="members">
              <thead><tr><th>Name</th><th>Email</th><th>Status</th><th></th></tr></thead>
              <tbody>{"".join(rows)}</tbody>
            </table>
            <nav class="pagination">{pager}</nav>""",
            signed_in=True,
        )

    def _invite_page(self, session: _Session, error: str = "") -> str:
        flash = f'<div class="flash alert">{html.escape(error)}</div>' if error else ""
        return _page(
            "Invite a member",
            f"""{flash}
            <form id="invite" action="/admin/members" method="post">
              <input type="hidden" name="authenticity_token" value="{session.csrf}">
              <input type="email" name="member[email]">
              <input type="text" name="member[name]">
              <select name="member[role]"><option value="member" selected>Member</option>
                <option value="admin">Admin</option></select>
              <button type="submit">Send invitation</button>
            </form>""",
            signed_in=True,
        )


def _page(title: str, body: str, *, signed_in: bool = False) -> str:
    nav = '<nav><a id="sign-out" href="/logout">Sign out</a></nav>' if signed_in else ""
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>"
        f"<script>window.acme = {{}};</script></head>"
        f"<body>{nav}<h1>{title}</h1>{body}</body></html>"
    )


@contextmanager
def form_site(site: FormSite) -> Iterator[FormSite]:
    """Serve ``site`` on 127.0.0.1 (a free port) for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            cookies: dict[str, str] = {}
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, sep, value = part.strip().partition("=")
                if sep:
                    cookies[name] = value
            referer = self.headers.get("Referer") or ""
            if self.command == "POST" and not referer.startswith(site.url + "/"):
                # As Django does over https: a form post must come from one of its pages.
                status, headers, page = 403, [], _page("Forbidden", "<p>Referer check.</p>")
            else:
                status, headers, page = site.handle(self.command, self.path, body, cookies)
            data = page.encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        do_GET = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


#: The recipe of this site, as an administrator would write it (docs/connectors/form-login.md).
RECIPE: dict[str, Any] = {
    "name": "acme",
    "login": {
        "path": "/login",
        "form": "form#new_session",
        "username_field": "user[email]",
        "password_field": "user[password]",
        "success": {"selector": "a#sign-out"},
        "failures": [
            {"reason": "locked", "text": "account is locked"},
            {"reason": "wrong_password", "text": "Invalid Email or password"},
            {"reason": "wrong_code", "text": "Invalid two-factor code"},
            {"reason": "captcha", "text": "prove you are not a robot"},
        ],
    },
    "totp": {"form": "form.two-factor", "field": "otp_attempt"},
    "members": {
        "path": "/admin/members",
        "row": "table#members tbody tr",
        "fields": {
            "remote_id": "@data-member-id",
            "email": "td.email a",
            "display_name": "td.name",
        },
        "status": "td:nth-child(3)",
        "status_map": {"Active": "active", "Invited": "active", "Disabled": "suspended"},
        "next": "a[rel=next]@href",
        "max_pages": 50,
    },
    "actions": {
        "invite": {
            "path": "/admin/members/new",
            "form": "form#invite",
            "fields": {"member[email]": "{email}", "member[name]": "{display_name}"},
            "failures": [{"reason": "other", "selector": ".flash.alert"}],
        },
        "disable": {"form": "form.disable"},
        "enable": {"form": "form.enable"},
        "remove": {"form": "form.remove", "fields": {"confirm": "yes"}},
    },
}


@dataclass
class BetaSite:
    """A second, differently built service: a multipart login form whose CSRF token is
    in a ``<meta>`` and must come back as an ``X-CSRF-Token`` header, a ``Secure``
    session cookie, a ``<meta http-equiv=refresh>`` after sign-in, members as a list
    whose state is a class, e-mails as ``mailto:`` links, and a removal confirmed on a
    second page. No second factor."""

    people: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> (email, on)
    sessions: dict[str, str | None] = field(default_factory=dict)  # sid -> csrf / user
    csrf: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(
        self, method: str, target: str, body: bytes, cookies: dict[str, str], csrf_header: str
    ) -> tuple[int, list[tuple[str, str]], str]:
        path = urlsplit(target).path
        with self.lock:
            self.requests.append((method, path))
            sid = cookies.get("__Host-beta")
            headers: list[tuple[str, str]] = []
            if sid not in self.sessions:
                sid = secrets.token_hex(8)
                self.sessions[sid] = None
                self.csrf[sid] = secrets.token_hex(8)
                headers.append(("Set-Cookie", f"__Host-beta={sid}; Path=/; Secure; HttpOnly"))
            assert sid is not None
            if method == "POST" and csrf_header != self.csrf[sid]:
                return 403, headers, "<p>CSRF</p>"
            meta = f'<meta name="csrf-token" content="{self.csrf[sid]}">'
            if path == "/signin" and method == "GET":
                return (
                    200,
                    headers,
                    (
                        f"<html><head>{meta}</head><body>"
                        '<form method="post" action="/signin" enctype="multipart/form-data">'
                        '<input name="login"><input type="password" name="pass">'
                        "<input type=submit value=Go></form></body></html>"
                    ),
                )
            if path == "/signin" and method == "POST":
                form = _multipart_fields(body)
                if form.get("login") == ADMIN and form.get("pass") == PASSWORD:
                    self.sessions[sid] = ADMIN
                    return (
                        200,
                        headers,
                        (
                            '<html><head><meta http-equiv="Refresh" content="0; URL=/home">'
                            "</head><body>Signing you in…</body></html>"
                        ),
                    )
                return 401, headers, "<p class=err>Wrong credentials</p>" + _BETA_FORM
            if self.sessions[sid] is None:
                return 302, [*headers, ("Location", "/signin")], ""
            if path == "/home":
                return 200, headers, "<p>Hello <b id=me>admin</b></p>"
            if path == "/people" and method == "GET":
                items = "".join(
                    f'<li class="person{"" if on else " disabled"}" data-id="{pid}">'
                    f'<span class="mail"><a href="mailto:{email}">{email}</a></span>'
                    f'<form method="post" action="/people/{pid}/delete"><button>x</button></form>'
                    "</li>"
                    for pid, (email, on) in self.people.items()
                )
                return 200, headers, f'<html><head>{meta}</head><ul class="people">{items}</ul>'
            if path.endswith("/delete") and method == "POST":
                pid = path.split("/")[2]
                return (
                    200,
                    headers,
                    (
                        f"<html><head>{meta}</head><p>Really delete?</p>"
                        f'<form id="sure" method="post" action="/people/{pid}/destroy">'
                        '<input type="hidden" name="really" value="no"><button>Yes</button></form>'
                    ),
                )
            if path.endswith("/destroy") and method == "POST":
                if parse_qs(body.decode()).get("really") == ["yes"]:
                    self.people.pop(path.split("/")[2], None)
                return 303, [*headers, ("Location", "/people")], ""
            return 404, headers, "<p>not found</p>"


_BETA_FORM = (
    '<form method="post" action="/signin" enctype="multipart/form-data">'
    '<input name="login"><input type="password" name="pass"></form>'
)


def _multipart_fields(body: bytes) -> dict[str, str]:
    """A small reader of ``multipart/form-data`` (text fields only)."""
    out: dict[str, str] = {}
    text = body.decode(errors="replace")
    if not text.startswith("--"):
        return out
    boundary = text.split("\r\n", 1)[0]
    for part in text.split(boundary)[1:]:
        head, _, value = part.partition("\r\n\r\n")
        name = head.split('name="', 1)[1].split('"', 1)[0] if 'name="' in head else ""
        if name:
            out[name] = value[: -len("\r\n")] if value.endswith("\r\n") else value
    return out


@contextmanager
def beta_site(site: BetaSite) -> Iterator[BetaSite]:
    """Serve ``site`` on 127.0.0.1 (a free port) for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            cookies = dict(
                part.strip().partition("=")[::2]
                for part in (self.headers.get("Cookie") or "").split(";")
                if "=" in part
            )
            status, headers, page = site.handle(
                self.command, self.path, body, cookies, self.headers.get("X-CSRF-Token") or ""
            )
            data = page.encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        do_GET = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


#: The recipe of the second service: what differs is data, not code.
BETA_RECIPE: dict[str, Any] = {
    "name": "beta",
    "login": {
        "path": "/signin",
        "page_headers": {"X-CSRF-Token": "meta[name=csrf-token]@content"},
        "success": {"selector": "#me"},
        "failures": [{"reason": "wrong_password", "selector": "p.err"}],
    },
    "members": {
        "path": "/people",
        "row": "ul.people > li.person",
        "fields": {"remote_id": "@data-id", "email": "span.mail a@href"},
        "status": "@class",
        "status_map": {"disabled": "suspended", "person": "active"},
    },
    "actions": {
        "remove": {
            "form": "form",
            "page_headers": {"X-CSRF-Token": "meta[name=csrf-token]@content"},
            "confirm": {"form": "form#sure", "fields": {"really": "yes"}},
        }
    },
}
