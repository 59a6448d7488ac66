"""Settings > SCIM: the tenant URL, the token's state, Generate and Revoke.

A generated token is never stored or logged in plain text (only its hash, by
:func:`scimcore.issue_token`), and it is shown once. The confirmed POST answers with a
redirect (post, redirect, get), so reloading the page it leads to cannot post again and
issue another token, which would stop the one just pasted into Okta. The token rides
that one redirect in a cookie scoped to the settings page, ``HttpOnly``,
``SameSite=Strict``, for at most :data:`HANDOVER_SECONDS`, encrypted under a key
derived from the admin's session cookie (which the server keeps only as a hash, so the
database holds nothing that decrypts it). The page that shows it clears the cookie: a
reload says it was shown and how to get a new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from scimcore import Organization, issue_token

from ..base_url import base_url
from .blueprint import audit, bp, console, login_required, organization, page
from .security import SESSION_COOKIE

#: The cookie carrying a new token from the POST to the page that shows it.
HANDOVER_COOKIE = "scimserver_new_token"
#: How long that cookie may live; the redirect is followed at once.
HANDOVER_SECONDS = 300


def tenant_url(org: Organization) -> str:
    base = base_url(console().settings.public_url)
    return f"{base}/scim/v2/organizations/{org.slug}"


def _settings_page(org: Organization, **extra: Any) -> ResponseReturnValue:
    extra.setdefault("token", console().store.token_info(org.id))
    return page("scim_settings.html", org=org, section="scim", tenant_url=tenant_url(org), **extra)


def _handover_key() -> Fernet | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    digest = hashlib.sha256(b"scimserver new token handover\0" + raw.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _settings_path(org: Organization) -> str:
    return url_for("admin.scim_settings", slug=org.slug)


def _hand_over(response: BaseResponse, org: Organization, token: str, replaced: bool) -> None:
    key = _handover_key()
    if key is None:  # no session cookie: login_required would not have let us here
        return
    sealed = key.encrypt(json.dumps({"org": org.id, "token": token, "replaced": replaced}).encode())
    response.set_cookie(
        HANDOVER_COOKIE,
        sealed.decode(),
        max_age=HANDOVER_SECONDS,
        path=_settings_path(org),
        secure=console().sessions.cookies.secure,
        httponly=True,
        samesite="Strict",
    )


def _taken_over(org: Organization) -> dict[str, Any] | None:
    """The new token handed over by the POST, if it is this organization's current one."""
    sealed, key = request.cookies.get(HANDOVER_COOKIE), _handover_key()
    if not sealed or key is None or len(sealed) > 4096:
        return None
    try:
        data = json.loads(key.decrypt(sealed.encode(), ttl=HANDOVER_SECONDS))
    except (InvalidToken, ValueError):
        return None
    current = console().store.token_info(org.id)
    token = data.get("token") if isinstance(data, dict) and data.get("org") == org.id else None
    if (
        not isinstance(token, str)
        or current is None
        or current.status != "active"
        or not token.startswith(current.prefix)
    ):
        return None  # generated again or revoked since: that token no longer works
    return {"new_token": token, "replaced": bool(data.get("replaced"))}


@bp.get("/o/<slug>/settings/scim")
@login_required
def scim_settings(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    shown = _taken_over(org) if request.args.get("issued") == "1" else None
    response = _settings_page(
        org,
        revoked=request.args.get("revoked") == "1",
        already_shown=request.args.get("issued") == "1" and shown is None,
        **(shown or {}),
    )
    if HANDOVER_COOKIE in request.cookies:
        assert isinstance(response, BaseResponse)
        response.delete_cookie(
            HANDOVER_COOKIE,
            path=_settings_path(org),
            secure=console().sessions.cookies.secure,
            httponly=True,
            samesite="Strict",
        )
    return response


@bp.route("/o/<slug>/settings/scim/generate", methods=["GET", "POST"])
@login_required
def scim_generate(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    c = console()
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return page(
            "scim_confirm.html",
            org=org,
            section="scim",
            action="generate",
            token=c.store.token_info(org.id),
        )
    pepper = c.settings.token_pepper.encode() if c.settings.token_pepper else None
    had_token = c.store.token_info(org.id)
    issued = issue_token(c.store, org, pepper)
    audit(org, "token.generated", issued.info.prefix)
    response = redirect(url_for("admin.scim_settings", slug=org.slug, issued=1), 303)
    replaced = had_token is not None and had_token.status == "active"
    _hand_over(response, org, issued.token, replaced)
    return response


@bp.route("/o/<slug>/settings/scim/revoke", methods=["GET", "POST"])
@login_required
def scim_revoke(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    c = console()
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return page(
            "scim_confirm.html",
            org=org,
            section="scim",
            action="revoke",
            token=c.store.token_info(org.id),
        )
    info = c.store.token_info(org.id)
    if c.store.revoke_token(org.id):
        audit(org, "token.revoked", info.prefix if info else None)
    return redirect(url_for("admin.scim_settings", slug=org.slug, revoked=1))
