"""Settings > SCIM: the tenant URL, the token's state, Generate and Revoke.

A generated token is rendered once, in the response to the confirmed POST, and
never stored or logged in plain text (only its hash, by :func:`scimcore.issue_token`).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization, issue_token

from ..base_url import base_url
from .blueprint import audit, bp, console, login_required, organization, page


def tenant_url(org: Organization) -> str:
    base = base_url(console().settings.public_url)
    return f"{base}/scim/v2/organizations/{org.slug}"


def _settings_page(org: Organization, **extra: Any) -> ResponseReturnValue:
    extra.setdefault("token", console().store.token_info(org.id))
    return page("scim_settings.html", org=org, section="scim", tenant_url=tenant_url(org), **extra)


@bp.get("/o/<slug>/settings/scim")
@login_required
def scim_settings(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    return _settings_page(org, revoked=request.args.get("revoked") == "1")


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
    return _settings_page(
        org,
        new_token=issued.token,
        replaced=had_token is not None and had_token.status == "active",
        token=issued.info,
    )


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
