"""The ``admin`` blueprint and what every console view shares: the console's
collaborators, the signed-in administrator, the organization in the URL, HTML errors
and security headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, NotFound

from scimcore import Organization, ScimService, Store
from scimcore.accounts import AccountStore, KeyRing
from scimcore.errors import ScimError
from scimcore.ratelimit import RateLimits
from scimcore.storage.sql.admins import AdminSession, SqlAdminStore

from ..config import Settings
from ..log_redaction import masked_logger
from ..wiring import Parts
from .security import Sessions, Throttle, check_csrf, csrf_token

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = masked_logger("scimserver.admin")
F = TypeVar("F", bound=Callable[..., Any])
#: Largest accepted CSV upload, a little over the importer's own file limit.
UPLOAD_ENDPOINTS = frozenset({"admin.csv_upload"})


@dataclass(frozen=True)
class Console:
    """The console's collaborators, built once per app (``app.extensions``) from the
    app's :class:`~scimserver.wiring.Parts` (the console is only registered on SQL)."""

    parts: Parts
    settings: Settings
    store: Store
    service: ScimService
    admins: SqlAdminStore
    accounts: AccountStore
    sessions: Sessions
    throttle: Throttle
    rate_limits: RateLimits
    keyring: KeyRing | None
    upload_limit: int


def console() -> Console:
    return cast(Console, current_app.extensions["scimserver_admin"])


def current_session() -> AdminSession | None:
    return cast("AdminSession | None", g.get("admin_session"))


def signed_in() -> AdminSession:
    found = current_session()
    if found is None:  # pragma: no cover - login_required runs first
        abort(401)
    return found


def login_required(view: F) -> F:
    """Send anonymous visitors to the sign-in page, coming back here afterwards."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_session() is None:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def organization(slug: str) -> Organization:
    """The organization in the URL, or 404 when it does not exist *or* the signed-in
    administrator is not one of its administrators (the same answer, so a URL never
    reveals whether another organization exists)."""
    c = console()
    org = c.store.get_organization(slug)
    if org is None or not c.admins.member_of(signed_in().admin.id, org.id):
        abort(404)
    return org


def my_organizations() -> list[Organization]:
    c = console()
    ids = set(c.admins.organization_ids(signed_in().admin.id))
    return [o for o in c.store.list_organizations() if o.id in ids]


#: A console path as a ``Location`` may carry it: printable ASCII URL characters only
#: (no control character, which would split the header, no space, no backslash).
_SAFE_TARGET = re.compile(r"/admin/[A-Za-z0-9._~!$&'()*+,;=:@/?%#-]*")


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an absolute or protocol-relative URL, a
    ``..`` segment, or a character that could not go into a ``Location`` header as is."""
    default = url_for("admin.index")
    if not target or _SAFE_TARGET.fullmatch(target) is None:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "//" in parts.path or ".." in parts.path.split("/"):
        return default
    return target


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render a console page with what every page needs."""
    session = current_session()
    org: Organization | None = context.get("org")
    orgs = my_organizations() if session is not None and org is not None else []
    html = render_template(
        f"admin/{template}",
        admin=session.admin if session else None,
        orgs=orgs,
        **context,
    )
    return Response(html, status=status, mimetype="text/html")


def audit(org: Organization | None, action: str, target: str | None = None, **detail: Any) -> None:
    session = current_session()
    actor = session.admin.email if session else str(detail.pop("actor", "-"))
    console().admins.record(org.id if org else None, actor, action, target, detail)


@bp.app_template_global("csrf_token")
def _csrf_token() -> str:
    return csrf_token()


@bp.before_request
def _before() -> None:
    c = console()
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = c.upload_limit
    c.sessions.load(request)
    check_csrf(request)


@bp.after_request
def _after(response: Response) -> Response:
    new_login_csrf = g.get("new_login_csrf")
    if new_login_csrf:
        console().sessions.cookies.set(response, "scimserver_admin_csrf", new_login_csrf, 3600)
    headers = response.headers
    headers.setdefault("Cache-Control", "no-store")
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


_TITLES = {
    400: "The request was refused",
    404: "Not found",
    405: "Not allowed",
    413: "The file is too large",
    429: "Too many attempts",
}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    message = error.description
    if code == 404:
        message = "There is no such page, or you do not have access to it."
    elif code == 413:
        limit = console().upload_limit // (1024 * 1024)
        message = f"Uploads are limited to {limit} MiB. Nothing was imported."
    response = page("error.html", status=code, title=_TITLES.get(code, "Error"), message=message)
    if code == 429 and error.response is not None:
        retry = error.response.headers.get("Retry-After")
        if retry:
            response.headers["Retry-After"] = retry
    return response


@bp.errorhandler(ScimError)
def _scim_error(error: ScimError) -> Response:
    """A refusal of the service (an empty path segment is a SCIM ``NotFound``, say) is
    the console's page for its status, not an unexpected error."""
    if error.status >= 500:
        return _unexpected(error)
    if error.status == 404:
        return _http_error(NotFound())
    title = _TITLES.get(error.status, "The request was refused")
    return page("error.html", status=error.status, title=title, message=error.detail)


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    log.exception("unexpected error in the admin console: %s %s", request.method, request.path)
    message = "Something went wrong on our side; nothing more was changed. Try again later."
    return page("error.html", status=500, title="Unexpected error", message=message)


@bp.route("/<path:rest>", methods=["GET", "POST"])
def _unknown(rest: str) -> Response:
    """Unknown console URLs get the console's 404 page, not the SCIM API's JSON."""
    abort(404)
