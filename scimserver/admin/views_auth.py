"""Sign in, sign out, and the list of the administrator's organizations (an
organization's landing page is its dashboard, :mod:`.views_dashboard`)."""

from __future__ import annotations

from flask import g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore.ratelimit import client_key

from ..forwarded import request_client
from .blueprint import (
    bp,
    console,
    current_session,
    login_required,
    my_organizations,
    organization,
    page,
    safe_next,
)
from .passwords import dummy_hash, verify_password
from .security import FAILURE_WINDOW

#: The same words for an unknown email and a wrong password.
WRONG = "The email or password is incorrect."


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    c = console()
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_session() is not None:
            return redirect(target)
        notice = "Your session has ended. Sign in again." if g.get("session_expired") else None
        return page("login.html", next=target, notice=notice, email="")
    email = request.form.get("email", "").strip().lower()[:320]
    password = request.form.get("password", "")
    # Two guards: the address's failed authentications of any kind (the service's rate
    # limit, shared with the SCIM API and the OAuth callback: it stops one address trying
    # many emails) and the failed sign-ins of this email from this address.
    address = client_key(request_client(request))
    wait = c.rate_limits.failures.retry_after(address)
    if wait is not None:
        return _too_many(target, email, wait)
    key = c.throttle.key(email, request_client(request))
    if c.throttle.blocked(key):
        return _too_many(target, email, int(FAILURE_WINDOW.total_seconds()))
    admin = c.admins.get_admin_by_email(email) if email else None
    ok = verify_password(password, admin.password_hash if admin else dummy_hash())
    if admin is None or not ok:
        c.throttle.failed(key)
        c.admins.record(None, email or "-", "sign_in.failed", None, {})
        wait = c.rate_limits.failures.failed(address)
        if wait is not None:
            return _too_many(target, email, wait)
        return page("login.html", status=401, next=target, email=email, error=WRONG)
    c.throttle.succeeded(key)
    response = redirect(target)
    c.sessions.open(response, admin.id)
    c.admins.record(None, admin.email, "sign_in", None, {})
    return response


def _too_many(target: str, email: str, seconds: int) -> ResponseReturnValue:
    """The sign-in page refusing to check a password (429), saying how long to wait."""
    wait = f"{-(-seconds // 60)} minutes" if seconds >= 120 else f"{seconds} seconds"
    blocked = page(
        "login.html",
        status=429,
        next=target,
        email=email,
        error=f"Too many failed attempts. Wait {wait} and try again.",
    )
    blocked.headers["Retry-After"] = str(seconds)
    return blocked


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    c = console()
    session = current_session()
    response = redirect(url_for("admin.login"))
    if session is not None:
        c.admins.record(None, session.admin.email, "sign_out", None, {})
    c.sessions.close(response)
    return response


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    orgs = my_organizations()
    if len(orgs) == 1:
        return redirect(url_for("admin.dashboard", slug=orgs[0].slug))
    return page("index.html", organizations=orgs)


@bp.get("/switch")
@login_required
def switch() -> ResponseReturnValue:
    return redirect(url_for("admin.dashboard", slug=organization(request.args.get("to", "")).slug))
