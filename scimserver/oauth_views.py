"""HTTP glue of the OAuth "Integrate" flow (scimcore.adapters.connectors.oauth_flow).

``GET /admin/integrations/<id>/oauth/start?ticket=...``
    Spends the one-time ticket from ``scimserver integrations oauth-link``, sets a
    browser-binding cookie and redirects (302) to the provider's authorize URL.
``GET /oauth/callback?code=...&state=...``
    The provider's redirect: exchanges the code, stores the tokens encrypted, and
    redirects to ``/oauth/result``. Any problem (unknown, expired, reused or foreign
    state, ``error=access_denied``, a failing token endpoint) is a 400 page that says
    what happened, and nothing is stored.

Pages are small HTML pages in the console's style with ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (the URLs carry one-time secrets), may not be framed,
and lead back to the integration in the console (``/admin/integrations/<id>``, which
finds its organization), never to a dead end.

A refused ticket or state counts as a failed authentication of the client address
(the service's rate limit, shared with the SCIM API and the console's sign-in): an
address over the limit gets a 429 page with ``Retry-After`` before the database is
asked anything.
"""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scimcore.adapters.connectors.credentials import CredentialError
from scimcore.adapters.connectors.oauth_flow import STATE_TTL
from scimcore.errors import ServiceUnavailable
from scimcore.ratelimit import RateLimits, client_key

from .base_url import base_url
from .forwarded import request_client
from .log_redaction import masked_logger
from .wiring import Parts

log = masked_logger("scimserver.oauth")

#: Binds a flow to the browser that started it (HttpOnly, SameSite=Lax, callback only).
BROWSER_COOKIE = "scimserver_oauth"
CALLBACK_PATH = "/oauth/callback"

#: Why a flow stops when its one-time secret (ticket, state, browser cookie) was refused:
#: what a guesser gets. These count as failed authentications; a provider's error does not.
_REFUSED_SECRETS = frozenset(
    {
        "unknown_integration",
        "ticket_invalid",
        "ticket_used",
        "ticket_expired",
        "state_missing",
        "state_unknown",
        "state_used",
        "state_expired",
        "browser_mismatch",
    }
)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
}


#: An OAuth error code as RFC 6749 4.1.2.1 spells them (``access_denied``...), shown back.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def _page(title: str, message: str, status: int, integration: str | None = None) -> Response:
    """A page of the flow: what happened, and the way back to the console (to the
    integration when it is known)."""
    back = (
        f"/admin/integrations/{integration}{'?connected=1' if status == 200 else ''}"
        if integration is not None and integration.isdigit()
        else "/admin/"
    )
    label = "Back to the integration" if back != "/admin/" else "Open the console"
    kind = "notice" if status == 200 else "error"
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{url_for("static", filename="admin.css")}"></head>'
        '<body><main id="main"><section class="card narrow" aria-labelledby="page-h">'
        f'<h1 id="page-h">{html.escape(title)}</h1>'
        f'<p class="{kind}" role="{"status" if status == 200 else "alert"}">'
        f"{html.escape(message)}</p>"
        f'<p><a class="button" href="{html.escape(back)}">{label}</a></p>'
        "</section></main></body></html>"
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(_HEADERS)
    return response


def _too_many(title: str, seconds: int) -> Response:
    response = _page(
        title,
        "Too many failed attempts from your address. "
        f"Wait {seconds} seconds, then start again from the console.",
        429,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def oauth_blueprint(parts: Parts, limits: RateLimits) -> Blueprint:
    """The flow's views; without the SQL store (no flow) they answer 404."""
    bp = Blueprint("oauth", __name__)
    settings = parts.settings
    flow = parts.oauth_flow()

    def redirect_uri() -> str:
        base = base_url(settings.public_url)
        return base + CALLBACK_PATH

    def refused(title: str) -> Response | None:
        """The 429 page when this client address is over the failure limit."""
        wait = limits.failures.retry_after(client_key(request_client(request)))
        return _too_many(title, wait) if wait is not None else None

    def failed(title: str, exc: Exception, *, integration: Any = None) -> Response:
        reason = getattr(exc, "reason", type(exc).__name__)
        log.info("OAuth flow stopped (integration %s): %s", integration, reason)
        if isinstance(exc, ServiceUnavailable):
            return _page(title, "The database is unavailable; try again shortly.", 503)
        if reason in _REFUSED_SECRETS:
            wait = limits.failures.failed(client_key(request_client(request)))
            if wait is not None:
                return _too_many(title, wait)
        message = str(exc) if isinstance(exc, CredentialError) else "The request failed."
        return _page(title, message, 400)

    @bp.get("/admin/integrations/<int:integration_id>/oauth/start")
    def start(integration_id: int) -> BaseResponse:
        if flow is None:
            return _page("Not available", "OAuth needs the SQL store.", 404)
        blocked = refused("Cannot start the sign-in")
        if blocked is not None:
            return blocked
        try:
            begun = flow.start(integration_id, request.args.get("ticket", ""), redirect_uri())
        except Exception as exc:
            return failed("Cannot start the sign-in", exc, integration=integration_id)
        response = redirect(begun.url, code=302)
        response.headers.update(_HEADERS)
        response.set_cookie(
            BROWSER_COOKIE,
            begun.browser_token,
            max_age=int(STATE_TTL.total_seconds()),
            path=CALLBACK_PATH,
            # As the console's cookies: secure when the public URL is HTTPS, or when
            # gunicorn says the request is (X-Forwarded-Proto from a trusted proxy only).
            secure=request.is_secure or (settings.public_url or "").startswith("https://"),
            httponly=True,
            samesite="Lax",
        )
        return response

    @bp.get(CALLBACK_PATH)
    def callback() -> BaseResponse:
        if flow is None:
            return _page("Not available", "OAuth needs the SQL store.", 404)
        if "admin_consent" in request.args:
            return _admin_consent()
        response: BaseResponse
        blocked = refused("The integration was not connected")
        if blocked is not None:
            return blocked
        try:
            integration_id = flow.complete(
                state=request.args.get("state"),
                code=request.args.get("code"),
                error=request.args.get("error"),
                browser_token=request.cookies.get(BROWSER_COOKIE),
            )
        except Exception as exc:
            response = failed("The integration was not connected", exc)
        else:
            log.info("OAuth flow completed for integration %s", integration_id)
            response = redirect(f"/oauth/result?integration={integration_id}", code=302)
            response.headers.update(_HEADERS)
        response.delete_cookie(BROWSER_COOKIE, path=CALLBACK_PATH)
        return response

    def _admin_consent() -> Response:
        """Where Microsoft's admin consent page returns: nothing to store (the grant is
        the tenant's), only to say what happened. No secret travels here."""
        state = request.args.get("state", "")
        number = (
            state.removeprefix("consent-") if re.fullmatch(r"consent-\d{1,12}", state) else None
        )
        label = f"integration {number}" if number else "the integration"
        if request.args.get("admin_consent") == "True":
            log.info("admin consent granted for %s", label)
            return _page(
                "Consent granted",
                f"An administrator granted the app its permissions for {label}. "
                "Press Sync now on the integration's page.",
                200,
                number,
            )
        error = request.args.get("error", "")
        said = f" (the provider answered {error})" if _ERROR_CODE.fullmatch(error) else ""
        return _page(
            "Consent not granted", f"Consent was not granted for {label}{said}.", 400, number
        )

    @bp.get("/oauth/result")
    def result() -> Response:
        """Where a completed flow lands. A provider configured to redirect here (rather
        than to the callback) with ``error=...`` reached a page that said "connected"."""
        integration = request.args.get("integration", "")
        label = f"Integration {integration}" if integration.isdigit() else "The integration"
        error = request.args.get("error")
        if error is not None:
            said = f" (the provider answered {error})" if _ERROR_CODE.fullmatch(error) else ""
            return _page(
                "The integration was not connected",
                f"{label} was not connected{said}; nothing was stored. "
                "Press Integrate on its page to try again.",
                400,
                integration,
            )
        return _page(
            "Connected",
            f"{label} is connected: its tokens are stored, encrypted. "
            "Press Sync now on its page to see the accounts it holds.",
            200,
            integration,
        )

    return bp
