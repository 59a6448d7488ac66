"""Pages over HTTP with a session cookie, and the sign-in a person would do.

:class:`Browser` fetches pages of one site: cookies kept in a per-sign-in
:class:`~.cookies.CookieJar`, redirects followed only within the recipe's origin (the
shared client refuses them: here each hop is checked, at most :data:`MAX_REDIRECTS`),
every request through ``ctx.auth.apply`` so the integration's pacing holds.

:func:`sign_in` is the login: GET the login page, fill its form (hidden inputs, the
CSRF token, carried as they are), ONE POST of the password, then the code step if the
service asks for one. A refusal raises
:class:`~scimcore.provisioning.errors.AuthenticationFailed` saying which refusal it
was, and is remembered (:data:`REFUSAL_MEMORY`), so nothing in this process sends the
same password again soon: an administrator account is never locked by retries.
:func:`signed_in` keeps the session of a successful sign-in for
:data:`SESSION_TTL` seconds, so a worker's run of many jobs signs in once.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from ....provisioning.connector import Auth, HttpRequest
from ....provisioning.errors import AuthenticationFailed, InvalidResponse
from ..http import HttpResponse, _loopback, exchange, raise_for_status
from ..totp import DEFAULT_STEP
from .cookies import CookieJar
from .credential import FormLoginAuth
from .html import Node, Selector, default_button, fields_of_type, form_fields, parse
from .recipe import Failure, FromPage, Marker, Recipe

MAX_REDIRECTS = 10
_URLENCODED = "application/x-www-form-urlencoded"
#: How long a signed-in session is reused before signing in again.
SESSION_TTL = 900.0
#: How long a refused sign-in is remembered: the same credential is not tried again
#: in this process before then (storing a new credential tries at once).
REFUSAL_MEMORY = 600.0
_MAX_SESSIONS = 256
_CAPTCHA = Selector.parse(
    ".g-recaptcha, .h-captcha, .cf-turnstile, iframe[src*=recaptcha], iframe[src*=hcaptcha], "
    "input[name=captcha], [data-sitekey]"
)
_REASONS = {
    "wrong_password": "wrong username or password",
    "wrong_code": "the one-time code (TOTP) was not accepted: check the TOTP seed stored "
    "with the credential, and this machine's clock",
    "locked": "the administrator account is locked",
    "captcha": "the service shows a CAPTCHA, which form_login cannot answer; sign in once "
    "in a browser to clear it, or ask the service to exempt this address",
    "other": "the service refused the sign-in",
}

_CAME_BACK = _REASONS["wrong_password"] + " (the sign-in form came back)"

#: Seams for tests (the TOTP wait): the wall clock and sleeping.
clock: Callable[[], float] = time.time
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    doc: Node

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def text(self) -> str:
        return self.doc.text()


class Browser:
    """HTTP for one site with one cookie jar; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        timeout: float,
        max_bytes: int,
        jar: CookieJar | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = _origin(base_url)
        self.auth = auth
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.jar = jar if jar is not None else CookieJar()
        self._referer: str | None = None
        self._extra: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Browser({self.origin!r}, {self.jar!r})"

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, url: str) -> Page:
        return self._fetch("GET", url, None, secret=False)

    def submit(
        self,
        page: Page,
        form: Node,
        values: Sequence[tuple[str, str]],
        *,
        secret: bool,
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        """Submit ``form`` of ``page`` with ``values`` (and extra ``headers``), encoded as
        the form says (urlencoded or multipart). ``secret``: it carries the password or a
        code, so it must be a POST, and is never re-sent by a redirect."""
        method = (form.get("method") or "get").upper()
        action = urljoin(page.url, form.get("action") or page.url)
        self.check_origin(action, "the form's address")
        if method != "POST" and secret:
            raise AuthenticationFailed(
                "the sign-in form sends with GET: the password would travel in the URL "
                "(and into logs); refused"
            )
        self._referer = page.url  # as a browser sends it (Django checks it over https)
        self._extra = dict(headers or {})
        if method != "POST":
            action = action.split("#", 1)[0].split("?", 1)[0] + "?" + urlencode(list(values))
            return self._fetch("GET", action, None, secret=False)
        if (form.get("enctype") or "").lower() == "multipart/form-data":
            body, content_type = _multipart(values)
        else:
            body, content_type = urlencode(list(values)).encode(), _URLENCODED
        return self._fetch("POST", action, body, secret=secret, content_type=content_type)

    def check_origin(self, url: str, what: str) -> None:
        if _origin(url) != self.origin:
            raise AuthenticationFailed(
                f"{what} leads to another site ({_origin(url)}), not {self.origin}: "
                "form_login sends the administrator's session and password to the "
                "recipe's base URL only (sign-in through another site, an identity "
                "provider, cannot work with form_login)"
            )

    def _fetch(
        self,
        method: str,
        url: str,
        body: bytes | None,
        *,
        secret: bool,
        content_type: str = _URLENCODED,
    ) -> Page:
        self.check_origin(url, "a page")
        try:
            for _ in range(MAX_REDIRECTS + 1):
                resp = self._send(method, url, body, content_type)
                target = self._next_hop(url, resp)
                if target is None:
                    return self._page(url, resp)
                if resp.status in (307, 308) and method == "POST":
                    if secret:
                        raise AuthenticationFailed(
                            "the service asked to send the password again to another "
                            "address (HTTP 307/308); refused"
                        )
                else:
                    method, body = "GET", None
                url, secret = target, False
                self._extra = {}
        finally:
            self._referer, self._extra = None, {}
        raise InvalidResponse(f"more than {MAX_REDIRECTS} redirects from {self.origin}; stopped")

    def _send(self, method: str, url: str, body: bytes | None, content_type: str) -> HttpResponse:
        parts = urlsplit(url)
        headers = {
            "Accept": "text/html,application/xhtml+xml",
            "User-Agent": "scimserver-form-login/1",
            **self._extra,
        }
        # Cookies marked Secure go back over https, and to this machine (as browsers do).
        secure = parts.scheme == "https" or _loopback(parts.hostname or "")
        cookie = self.jar.header(parts.path or "/", https=secure)
        if cookie:
            headers["Cookie"] = cookie
        if self._referer:
            headers["Referer"] = self._referer
        if body is not None:
            headers["Content-Type"] = content_type
            headers["Origin"] = _origin_header(url)
        request = HttpRequest(method, url, headers, body)
        self.auth.apply(request)
        resp = exchange(
            request.method,
            request.url,
            body=request.body,
            headers=request.headers,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
        )
        for value in resp.cookies:
            self.jar.store(value, parts.path or "/")
        return resp

    def _next_hop(self, url: str, resp: HttpResponse) -> str | None:
        """Where a redirect (or a ``<meta http-equiv=refresh>`` of at most 10 s) leads,
        checked to stay on the site; ``None`` when this is the page."""
        location = resp.headers.get("location")
        if resp.status in (301, 302, 303, 307, 308) and location:
            target = urljoin(url, location.strip())
        elif 200 <= resp.status < 300 and b"refresh" in resp.body[:4096].lower():
            found = _meta_refresh(parse(_decode(resp.body, resp.headers)))
            if found is None:
                return None
            target = urljoin(url, found)
        else:
            return None
        self.check_origin(target, "a redirect")
        return target

    def _page(self, url: str, resp: HttpResponse) -> Page:
        return Page(url, resp.status, parse(_decode(resp.body, resp.headers)))


_REFRESH = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*[;,]\s*url\s*=\s*['\"]?([^'\"]+)")


def _meta_refresh(doc: Node) -> str | None:
    for meta in doc.select("meta[http-equiv]"):
        if (meta.get("http-equiv") or "").lower() == "refresh":
            m = _REFRESH.match(meta.get("content") or "")
            if m and float(m.group(1)) <= 10:
                return m.group(2).strip()
    return None


def _multipart(values: Sequence[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "----scimserver" + secrets.token_hex(12)
    parts = []
    for name, value in values:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _origin_header(url: str) -> str:
    """The ``Origin`` header value: scheme, host, and the port only when it is not the
    scheme's default (as browsers send it; frameworks compare it with their own host)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _decode(body: bytes, headers: dict[str, str]) -> str:
    charset = "utf-8"
    content_type = headers.get("content-type", "")
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].split(";")[0].strip().strip('"') or charset
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def check_status(page: Page, what: str) -> None:
    """Raise the typed error of a failed page (5xx: try later; 429: slow down ...)."""
    if page.status >= 400:
        raise_for_status(HttpResponse(page.status, {}, b""), what)


# -- recognising pages --------------------------------------------------------------------


def matches(marker: Marker, page: Page) -> bool:
    if marker.text is not None and marker.text.lower() not in page.text().lower():
        return False
    if marker.selector is not None and page.doc.first(marker.selector) is None:
        return False
    return marker.url is None or page.path.startswith(marker.url)


def failure_on(page: Page, failures: Sequence[Failure]) -> Failure | None:
    return next((f for f in failures if matches(f.marker, page)), None)


def login_form(recipe: Recipe, page: Page) -> Node | None:
    """The sign-in form of ``page``: the recipe's, or the first form with a password."""
    assert recipe.login is not None
    if recipe.login.form is not None:
        return page.doc.first(recipe.login.form)
    return _first_password_form(page)


def sign_in_page(recipe: Recipe, page: Page) -> bool:
    """Whether ``page`` asks to sign in: the login form, or a one-time-code step."""
    return login_form(recipe, page) is not None or code_form(recipe, page) is not None


_CODE_NAME = re.compile(r"(?i)otp|totp|one.?time|2fa|mfa|two.?factor|verification.?code|^code$")


def code_form(recipe: Recipe, page: Page) -> Node | None:
    """The one-time-code form: the recipe's ``totp.form``, or (without one) a form with no
    password whose one visible field is named or marked as a code (``otp_attempt``,
    ``autocomplete="one-time-code"``), so an undeclared code step is never taken for a
    successful sign-in."""
    if recipe.totp is not None:
        return page.doc.first(recipe.totp.form)
    for form in page.doc.select("form"):
        if fields_of_type(form, "password"):
            continue
        visible = fields_of_type(form, "text", "number", "tel")
        if len(visible) == 1 and (
            visible[0].get("autocomplete") == "one-time-code"
            or _CODE_NAME.search(visible[0].get("name") or "")
        ):
            return form
    return None


def _first_password_form(page: Page) -> Node | None:
    return next((f for f in page.doc.select("form") if fields_of_type(f, "password")), None)


def _identifier_form(recipe: Recipe, page: Page) -> Node | None:
    """A form asking for the username alone (no password field anywhere on the page):
    the first step of an identifier-first sign-in."""
    assert recipe.login is not None
    wanted = recipe.login.username_field
    for form in page.doc.select("form"):
        names = {n.get("name") for n in fields_of_type(form, "text", "email")}
        if (wanted in names) if wanted else bool(fields_of_type(form, "email")):
            return form
    return None


def shows_captcha(recipe: Recipe, page: Page) -> bool:
    assert recipe.login is not None
    declared = [f for f in recipe.login.failures if f.reason == "captcha"]
    return failure_on(page, declared) is not None or page.doc.first(_CAPTCHA) is not None


# -- the sign-in --------------------------------------------------------------------------


class _Refused(AuthenticationFailed):
    pass


def sign_in(browser: Browser, recipe: Recipe, login: FormLoginAuth) -> None:
    """Sign in on ``browser`` (its jar then holds the session), or raise why not."""
    assert recipe.login is not None
    steps = recipe.login
    where = f"signing in to {browser.origin} as {login.username!r}"

    def refused(reason: str, detail: str | None = None) -> _Refused:
        what = detail or _REASONS.get(reason, reason)
        return _Refused(f"form_login: {where} failed: {what}; the password was not sent")

    page = browser.get(browser.url(steps.path))
    if page.status >= 500 or page.status == 429:
        check_status(page, f"form_login: {where}: the login page")
    before = [f for f in steps.failures if f.reason in ("locked", "captcha")]
    early = failure_on(page, before)
    if early is not None:
        raise refused(early.reason, early.message)
    if shows_captcha(recipe, page):
        raise refused("captcha")
    form = login_form(recipe, page)
    first_step = form if form is not None else _identifier_form(recipe, page)
    username_sent = False
    if first_step is not None and not fields_of_type(first_step, "password"):
        # Identifier first (the username alone, then the password on the next page).
        values = _login_values(first_step, recipe, login, password=False)
        fields, headers = from_page(page, steps.from_page)
        page = browser.submit(
            page, first_step, _merge(values, fields, None), secret=False, headers=headers
        )
        if page.status >= 500 or page.status == 429:
            check_status(page, f"form_login: {where}: the username step")
        failure = failure_on(page, steps.failures)
        if failure is not None:
            raise refused(failure.reason, failure.message)
        if shows_captcha(recipe, page):
            raise refused("captcha")
        form = login_form(recipe, page) or _first_password_form(page)
        username_sent = True
    if form is None:
        raise refused("other", _no_form(recipe, page))
    values = _login_values(form, recipe, login, username=not username_sent)
    fields, headers = from_page(page, steps.from_page)
    try:
        _after_password(
            browser,
            recipe,
            login,
            browser.submit(page, form, _merge(values, fields, None), secret=True, headers=headers),
        )
    except _Refused:
        raise
    except AuthenticationFailed as exc:  # after the password went: remembered as refused
        raise _Refused(f"form_login: {where} failed: {exc.message}") from None


def _after_password(browser: Browser, recipe: Recipe, login: FormLoginAuth, page: Page) -> None:
    """The pages after the password POST: a failure, the code step, then success."""
    assert recipe.login is not None
    steps = recipe.login
    where = f"signing in to {browser.origin} as {login.username!r}"

    def refused(reason: str, detail: str | None = None) -> _Refused:
        what = detail or _REASONS.get(reason, reason)
        return _Refused(
            f"form_login: {where} failed: {what}; the password was sent once and is not "
            "sent again until the credential is stored again"
        )

    code_sent = False
    for _ in range(3):
        if page.status >= 500:
            check_status(page, f"form_login: {where}")
        failure = failure_on(page, steps.failures)
        if failure is not None:
            raise refused(failure.reason, failure.message)
        if shows_captcha(recipe, page):
            raise refused("captcha")
        if page.status == 429:
            raise refused("other", "the service answered HTTP 429 (too many sign-in attempts)")
        if page.status == 423:
            raise refused("locked", _REASONS["locked"] + " (HTTP 423)")
        step = code_form(recipe, page)
        if step is None:
            break
        if code_sent:
            raise refused("wrong_code")
        if not login.has_totp:
            raise refused(
                "other",
                "the service asks for a one-time code (TOTP) and the credential has no "
                "TOTP seed: store the credential again with the seed (--totp)",
            )
        fields, headers = from_page(page, recipe.totp.from_page if recipe.totp else FromPage())
        values = _merge(_code_values(step, recipe, login, browser.origin), fields, None)
        page = browser.submit(page, step, values, secret=True, headers=headers)
        code_sent = True
    if steps.success is not None:
        if matches(steps.success, page):
            return
        if login_form(recipe, page) is not None:
            raise refused(*_came_back(page))
        raise refused(
            "other",
            f"the page after sign-in ({page.path}, HTTP {page.status}) shows neither the "
            "recipe's success marker nor a known failure",
        )
    if login_form(recipe, page) is not None or page.status >= 400:
        raise refused(*_came_back(page))


#: What lockout pages say, for a refusal the recipe's markers do not name.
_LOCKED = re.compile(
    r"(?i)\b(account (is |has been )?(temporarily )?(locked|blocked|suspended)|"
    r"too many (failed |unsuccessful )?(sign[- ]?in |log[- ]?in )?attempts)"
)


def _came_back(page: Page) -> tuple[str, str]:
    """The reason of a refusal no recipe marker named: a lockout notice if the page
    shows one, else the wrong password."""
    if _LOCKED.search(page.text()):
        return "locked", _REASONS["locked"] + " (the service says so; no recipe marker)"
    return "wrong_password", _CAME_BACK


def _no_form(recipe: Recipe, page: Page) -> str:
    assert recipe.login is not None
    wanted = (
        f"the recipe's login.form {recipe.login.form.source!r} matches nothing"
        if recipe.login.form is not None
        else "no form with a password field"
    )
    scripted = page.doc.first("noscript") is not None or (
        page.doc.first("script") is not None and len(page.text()) < 200
    )
    hint = (
        "; the page looks built by JavaScript, which form_login does not run "
        '(set "javascript": true in the recipe to say so, and use the manual connector)'
        if scripted
        else ""
    )
    return f"no sign-in form on {page.path} (HTTP {page.status}): {wanted}{hint}"


def _login_values(
    form: Node,
    recipe: Recipe,
    login: FormLoginAuth,
    *,
    username: bool = True,
    password: bool = True,
) -> list[tuple[str, str]]:
    """The form's own fields (hidden ones, the CSRF token, as they are), the recipe's
    fixed ones, the username and (``password``) the password. ``username``: it must be
    there (not after an identifier-first step, where it may be, hidden or not)."""
    assert recipe.login is not None
    steps = recipe.login
    values = form_fields(form)
    names = {name for name, _ in values}
    user_field = steps.username_field or next(
        (n.get("name") for n in fields_of_type(form, "text", "email") if n.get("name")), None
    )
    password_field = steps.password_field or next(
        (n.get("name") for n in fields_of_type(form, "password")), None
    )
    needed = [("username", user_field)] if username else []
    needed += [("password", password_field)] if password else []
    for label, name in needed:
        if not name or name not in names:
            raise AuthenticationFailed(
                f"form_login: the sign-in form has no {label} field"
                + (f" named {name!r}" if name else "")
                + f" (fields: {', '.join(sorted(names)) or 'none'}); "
                f"set recipe.login.{label}_field; the password was not sent"
            )
    fixed = dict(steps.fields)
    if user_field and (username or user_field in names):
        fixed[user_field] = login.username
    if password and password_field:
        fixed[password_field] = login.password()
    return _merge(values, fixed, default_button(form))


def _code_values(
    form: Node, recipe: Recipe, login: FormLoginAuth, origin: str
) -> list[tuple[str, str]]:
    values = form_fields(form)
    totp = recipe.totp
    field = (totp.field if totp is not None else None) or next(
        (
            n.get("name")
            for n in fields_of_type(form, "text", "number", "tel", "password")
            if n.get("name")
        ),
        None,
    )
    if not field:
        raise AuthenticationFailed(
            "form_login: the one-time code form has no field for the code; set recipe.totp.field"
        )
    fixed = dict(totp.fields) if totp is not None else {}
    fixed[field] = _fresh_code(login, origin)
    return _merge(values, fixed, default_button(form))


def from_page(page: Page, spec: FromPage) -> tuple[dict[str, str], dict[str, str]]:
    """The fields and headers a recipe reads from the page holding a form (a CSRF token
    in a ``<meta>``); one it names but the page lacks is an error naming it."""
    out: list[dict[str, str]] = [{}, {}]
    for target, specs in zip(out, (spec.fields, spec.headers), strict=True):
        for name, value_spec in specs.items():
            value = value_spec.read(page.doc)
            if value is None:
                raise InvalidResponse(
                    f"form_login: {page.path} has nothing at {value_spec.source!r} "
                    f"(recipe: the value of {name!r})"
                )
            target[name] = value
    return out[0], out[1]


def _merge(
    values: list[tuple[str, str]], fixed: dict[str, str], button: tuple[str, str] | None
) -> list[tuple[str, str]]:
    out = [(k, fixed.pop(k)) if k in fixed else (k, v) for k, v in values]
    seen = {k for k, _ in out}
    out += [(k, v) for k, v in fixed.items() if k not in seen]
    if button is not None and button[0] not in seen:
        out.append(button)
    return out


_last_step: dict[tuple[str, str], int] = {}
_step_lock = threading.Lock()


def _fresh_code(login: FormLoginAuth, origin: str) -> str:
    """The current code, waiting for the next time step if this process already used
    this one on this site (services refuse a code used twice, RFC 6238 5.2)."""
    key = (origin, login.fingerprint)
    now = clock()
    step = int(now // DEFAULT_STEP)
    with _step_lock:
        used_before = _last_step.get(key) == step
    if used_before:  # waited outside the lock: other sign-ins go on meanwhile
        sleep(min(max((step + 1) * DEFAULT_STEP - now + 0.05, 0.0), DEFAULT_STEP + 1.0))
        now = clock()
    with _step_lock:
        code, used = login.totp_code(now)
        _last_step[key] = used
        if len(_last_step) > _MAX_SESSIONS:
            _last_step.pop(next(iter(_last_step)))
    return code


# -- sessions kept for a run ----------------------------------------------------------------


@dataclass
class _Entry:
    jar: CookieJar
    at: float


_sessions: dict[tuple[object, ...], _Entry] = {}
_refusals: dict[tuple[object, ...], tuple[str, float]] = {}
_lock = threading.Lock()


def signed_in(
    key: tuple[object, ...],
    browser: Browser,
    recipe: Recipe,
    login: FormLoginAuth,
    *,
    fresh: bool = False,
) -> bool:
    """Give ``browser`` a signed-in session: the one kept under ``key`` (the
    integration, the site and the credential's fingerprint), or a new sign-in; True
    when it signed in now. ``fresh``: the kept session has expired on the service's
    side; sign in again."""
    now = time.monotonic()
    with _lock:
        refusal = _refusals.get(key)
        if refusal is not None and now - refusal[1] < REFUSAL_MEMORY:
            raise AuthenticationFailed(
                refusal[0] + " (remembered: not tried again for "
                f"{int(REFUSAL_MEMORY // 60)} minutes)"
            )
        entry = _sessions.get(key)
        if entry is not None and not fresh and now - entry.at < SESSION_TTL:
            browser.jar = entry.jar
            return False
        _sessions.pop(key, None)
    browser.jar = CookieJar()
    try:
        sign_in(browser, recipe, login)
    except _Refused as exc:
        with _lock:
            _refusals[key] = (exc.message, time.monotonic())
            _trim(_refusals)
        raise AuthenticationFailed(exc.message) from None
    with _lock:
        _sessions[key] = _Entry(browser.jar, time.monotonic())
        _trim(_sessions)
    return True


def refuse(key: tuple[object, ...], message: str) -> AuthenticationFailed:
    """A sign-in that looked successful but is not (the service shows the sign-in form
    again at once): drop its session and remember the refusal, so the next call does
    not send the password again; the error to raise."""
    with _lock:
        _sessions.pop(key, None)
        _refusals[key] = (message, time.monotonic())
        _trim(_refusals)
    return AuthenticationFailed(message)


def forget(key: tuple[object, ...]) -> None:
    with _lock:
        _sessions.pop(key, None)


def forget_all() -> None:
    """Drop every kept session and remembered refusal (tests; a process reload)."""
    with _lock:
        _sessions.clear()
        _refusals.clear()
    with _step_lock:
        _last_step.clear()


def _trim(table: dict[tuple[object, ...], Any]) -> None:
    while len(table) > _MAX_SESSIONS:
        table.pop(next(iter(table)))
