"""Activity: what changed in one organization, newest first, in two keyset-paged lists.

* **Provisioning events** (the ``events`` table): SCIM changes, CSV rows and connector
  actions (jobs, discovery), filterable by the user they are about and by time.
* **Console actions** (``admin_audit``): token generation and revocation, CSV previews,
  imports and exports, credentials, syncs, and the sign-ins of the organization's
  administrators; filterable by administrator and by time.

A user's page lists their recent provisioning events (:func:`user_events`, a template
global, so the directory views need not know about events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization
from scimcore.adapters.csv import OUTCOMES

from .blueprint import bp, console, login_required, organization, page

PAGE_SIZE = 50
#: Events on a user's page.
USER_EVENTS = 20
#: Data keys summarized in the Details column, in this order (never secrets: events
#: carry none, see scimcore.provisioning.events.user_snapshot).
_SUMMARY_KEYS = (
    "userName",
    "displayName",
    "active",
    "integration_id",
    "account_id",
    "classification",
    "from",
    "method",
    "operation",
    "error_code",
    "error",
    "seen",
    "new",
    "linked",
    "missing",
    "managed",
    "retired",
    "external",
    "orphans",
    "to",
    "notes",
)
_SOURCES = {"scim": "SCIM", "csv": "CSV", "engine": "connector", "admin": "console"}
#: What each event type says happened, in words; an unknown type shows as it is.
_WHAT = {
    "scim.user.created": "User created",
    "scim.user.updated": "User updated",
    "scim.user.deactivated": "User deactivated",
    "scim.user.reactivated": "User reactivated",
    "scim.user.deleted": "User deleted",
    "scim.group.created": "Group created",
    "scim.group.updated": "Group updated",
    "scim.group.deleted": "Group deleted",
    "account.linked": "Account linked to the user",
    "account.updated": "Account details changed",
    "account.unlinked": "Account unlinked",
    "account.created": "Account created at the service",
    "account.deactivated": "Account deactivated at the service",
    "account.reactivated": "Account reactivated at the service",
    "account.deleted": "Account deleted at the service",
    "account.discovered": "Account found at the service",
    "account.classification_changed": "Account reclassified",
    "account.retired_detected": "Leaver's account still active",
    "account.orphan_detected": "Account with no owner found",
    "integration.status_changed": "Integration status changed",
    "sync.completed": "Sync finished",
    "sync.failed": "Sync failed",
}
#: Keys the Details column leaves out: shown in their own column, or not for people.
_HIDDEN = frozenset({"integration_id", "changed", "version", "user_id", "remote_id"})


@dataclass(frozen=True)
class EventRow:
    id: int
    at: datetime
    type: str
    source: str
    resource_type: str
    resource_id: str
    user_id: str | None
    user_name: str | None
    summary: str
    #: The event in words ("User updated"), and the service it concerns, by name.
    what: str = ""
    service: str | None = None
    #: What changed, attribute by attribute: ``displayName: Old → New``.
    changes: str = ""


def _what(event_type: str) -> str:
    return _WHAT.get(event_type, event_type.replace("_", " ").replace(".", " "))


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)[:120]


def _changes(data: Mapping[str, Any]) -> str:
    changed = data.get("changed")
    if not isinstance(changed, Mapping):
        return ""
    parts = []
    for key, pair in changed.items():
        if isinstance(pair, list) and len(pair) == 2:
            parts.append(f"{key}: {_shown(pair[0])} → {_shown(pair[1])}")
    return "; ".join(parts)


def _summary(data: Mapping[str, Any]) -> str:
    parts = []
    for key in _SUMMARY_KEYS:
        if key in _HIDDEN:
            continue
        value = data.get(key)
        if key == "notes" and isinstance(value, list):  # what a connector said, in words
            value = " / ".join(str(v) for v in value)
        if value is None or value == "" or isinstance(value, (dict, list)):
            continue
        text = str(value) if key != "notes" else str(value)[:400]
        parts.append(f"{key}: {text if key == 'notes' else text[:120]}")
    return "; ".join(parts)


#: A CSV job's outcomes in the order the CSV pages show them. PostgreSQL's jsonb does
#: not keep the order a mapping was written in, so the display order is fixed here.
_OUTCOME_ORDER = {k: i for i, k in enumerate(OUTCOMES)}


@bp.app_template_filter("detail_value")
def detail_value(value: Any) -> str:
    """A console action's detail as an administrator reads it: a CSV import's counts
    as ``created 5, updated 0, unchanged 0, deleted 0, skipped 0, failed 1`` rather than a Python
    dict, in that order on every database."""
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: _OUTCOME_ORDER.get(k, len(_OUTCOME_ORDER)))
        return ", ".join(f"{k} {detail_value(value[k])}" for k in keys)
    if isinstance(value, (list, tuple)):
        return ", ".join(detail_value(v) for v in value)
    return str(value)


def find_user(org: Organization, text: str) -> str | None:
    """The id of the user named ``text`` (userName, case-insensitive) or with that id."""
    return console().parts.need_sql("activity").activity.find_user(org.id, text)


def provisioning_events(
    org: Organization,
    *,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[EventRow]:
    """The organization's events, newest first, about ``user_id`` when given (the
    user's own events, and those of their service accounts)."""
    found = (
        console()
        .parts.need_sql("activity")
        .activity.events(
            org.id, user_id=user_id, since=since, until=until, before_id=before_id, limit=limit
        )
    )
    services = _service_names(org) if found else {}
    return [
        EventRow(
            id=ev.id,
            at=ev.created,
            type=ev.type,
            source=_SOURCES.get(ev.source, ev.source),
            resource_type=ev.resource_type,
            resource_id=ev.resource_id,
            user_id=ev.user_id,
            user_name=ev.user_name,
            summary=_summary(ev.data),
            what=_what(ev.type),
            service=services.get(ev.data.get("integration_id")),
            changes=_changes(ev.data),
        )
        for ev in found
    ]


def _service_names(org: Organization) -> dict[Any, str]:
    """The organization's integrations by id (events name them by id)."""
    with console().accounts.accounts(org.id, readonly=True) as session:
        return {i.id: i.display_name for i in session.integrations()}


@bp.app_template_global("user_events")
def user_events(org: Organization, user_id: str) -> list[EventRow]:
    """A user's most recent provisioning events (for the user page)."""
    return provisioning_events(org, user_id=user_id, limit=USER_EVENTS)


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
    user_text = request.args.get("user", "").strip()[:256]
    user_id = find_user(org, user_text) if user_text else None
    event_before = request.args.get("ebefore", "")
    event_rows: list[EventRow] = []
    if not user_text or user_id is not None:
        event_rows = provisioning_events(
            org,
            user_id=user_id,
            since=since,
            until=until + timedelta(days=1) if until else None,
            before_id=int(event_before) if event_before.isdigit() else None,
            limit=PAGE_SIZE + 1,
        )
    events_next_url = None
    if len(event_rows) > PAGE_SIZE:
        event_rows = event_rows[:PAGE_SIZE]
        events_next_url = url_for(
            "admin.activity",
            slug=org.slug,
            actor=actor or None,
            user=user_text or None,
            since=since_text or None,
            until=until_text or None,
            ebefore=event_rows[-1].id,
            _anchor="events-h",
        )
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
            user=user_text or None,
            since=since_text or None,
            until=until_text or None,
            before=entries[-1].id,
            _anchor="audit-h",
        )
    return page(
        "activity.html",
        org=org,
        section="activity",
        entries=entries,
        actor=actor,
        user=user_text,
        user_found=user_id is not None,
        event_rows=event_rows,
        events_next_url=events_next_url,
        since=since_text,
        until=until_text,
        next_url=next_url,
    )
