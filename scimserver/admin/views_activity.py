"""Activity: the console's audit trail for one organization, newest first.

Token generation and revocation, CSV previews, imports and exports, and the sign-ins
of the organization's administrators; filterable by who and when, keyset-paged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import request, url_for
from flask.typing import ResponseReturnValue

from .blueprint import bp, console, login_required, organization, page

PAGE_SIZE = 50


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@bp.get("/o/<slug>/activity")
@login_required
def activity(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    c = console()
    actor = request.args.get("actor", "").strip()[:320]
    since_text = request.args.get("since", "")
    until_text = request.args.get("until", "")
    since = _day(since_text)
    until = _day(until_text)
    before = request.args.get("before", "")
    entries = c.admins.audit(
        org.id,
        actor=actor or None,
        since=since,
        until=until + timedelta(days=1) if until else None,
        before_id=int(before) if before.isdigit() else None,
        limit=PAGE_SIZE + 1,
        include_actors=c.admins.organization_admin_emails(org.id),
    )
    next_url = None
    if len(entries) > PAGE_SIZE:
        entries = entries[:PAGE_SIZE]
        next_url = url_for(
            "admin.activity",
            slug=org.slug,
            actor=actor or None,
            since=since_text or None,
            until=until_text or None,
            before=entries[-1].id,
        )
    return page(
        "activity.html",
        org=org,
        section="activity",
        entries=entries,
        actor=actor,
        since=since_text,
        until=until_text,
        next_url=next_url,
    )
