"""Integrations: the organization's services with their status, and each one's
accounts (linked to a user, or discovered and linked to nobody)."""

from __future__ import annotations

from flask import abort, request
from flask.typing import ResponseReturnValue

from .blueprint import bp, console, login_required, organization, page

SHOWN_ACCOUNTS = 500
LINK_FILTERS = {"all": "All", "linked": "Linked to a user", "unlinked": "Linked to nobody"}


@bp.get("/o/<slug>/integrations")
@login_required
def integrations(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    with console().accounts.accounts(org.id, readonly=True) as session:
        found = session.integrations()
    return page("integrations.html", org=org, section="integrations", integrations=found)


@bp.get("/o/<slug>/integrations/<int:integration_id>")
@login_required
def integration_detail(slug: str, integration_id: int) -> ResponseReturnValue:
    org = organization(slug)
    link = request.args.get("link", "all")
    if link not in LINK_FILTERS:
        link = "all"
    with console().accounts.accounts(org.id, readonly=True) as session:
        integration = next((i for i in session.integrations() if i.id == integration_id), None)
        if integration is None:
            abort(404)
        rows = []
        more = False
        for listing in session.iter_accounts():
            account = listing.account
            if account.integration_id != integration_id:
                continue
            if link != "all" and account.link_status != link:
                continue
            if len(rows) == SHOWN_ACCOUNTS:
                more = True
                break
            rows.append(listing)
    return page(
        "integration.html",
        org=org,
        section="integrations",
        integration=integration,
        rows=rows,
        more=more,
        link=link,
        link_filters=LINK_FILTERS,
    )
