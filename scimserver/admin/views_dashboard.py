"""The dashboard: an organization's landing page in the console.

It answers what an IT administrator opens the console for: is every connection
healthy (status, last sync, last error, quarantine), and who has left but still has an
active account somewhere (leavers' and orphans' accounts, by service). For each such
account, "Deprovision now" (after a confirmation) queues one job for the worker and
"Mark as exception" keeps it on purpose; both call :mod:`scimcore.provisioning.leavers`,
as ``scimserver accounts deprovision`` / ``except`` do, so the rules are the same. The
reads are :mod:`scimcore.storage.sql.dashboard` (through the wiring).

Every user-visible sentence of this view is in :data:`TEXT`, the rest in
``dashboard.html``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization
from scimcore.provisioning.leavers import (
    LeaverError,
    clear_exception,
    deprovision,
    mark_exception,
)

from .blueprint import audit, bp, console, login_required, organization, page, signed_in

#: Accounts per page of the list.
PAGE_SIZE = 50
SHOWN = ("all", "retired", "unknown", "exceptions")

TEXT = {
    # the list's filter
    "show_all": "Leavers and orphans",
    "show_retired": "Leavers (deactivated or deleted in the directory)",
    "show_unknown": "Orphans (linked to nobody)",
    "show_exceptions": "Kept as exceptions",
    # notices after an action
    "notice_queued": "Deprovisioning of {account} is queued; the worker carries it out.",
    "notice_already": "Deprovisioning of {account} was already queued; nothing more was done.",
    "notice_excepted": "{account} is kept as an exception and has left the list.",
    "notice_already_excepted": "{account} was already kept as an exception.",
    "notice_unexcepted": "{account} is back on the list.",
    "notice_not_excepted": "{account} was not an exception; nothing changed.",
    # refusals (LeaverError codes)
    "not_a_leaver": "This account is no longer an active leaver's or orphan's account "
    "(a sync or a job changed it). Nothing was done.",
    "excepted": "This account is kept as an exception. Undo the exception first.",
    "policy_nothing": "This service's deprovisioning policy is to leave accounts when people "
    "leave, so nothing can be queued. Deactivate or delete the account at the service.",
    "unsupported": "This service's connector cannot deactivate or delete accounts as its "
    "policy says. Deactivate or delete the account at the service.",
    "reason_required": "Say why the account is kept: a reason is required.",
    # the confirmation
    "confirm_question": "Deprovision {account} in {service}?",
    "confirm_deactivate_remote": "The worker deactivates the account at the service (the "
    "service's policy). The person can no longer sign in there.",
    "confirm_delete_remote": "The worker deletes the account at the service (the service's "
    "policy). What it holds there may be lost for good.",
    "confirm_button": "Deprovision now",
}
#: The refusal codes whose words are in :data:`TEXT`.
LEAVER_REFUSALS = frozenset(
    {"not_a_leaver", "excepted", "policy_nothing", "unsupported", "reason_required"}
)
#: The connection states, in words.
STATUS_TEXT = {
    "active": "connected",
    "ready": "connected",
    "synced": "synced",
    "syncing": "syncing",
    "pending_auth": "waiting for sign-in",
    "needs_reauth": "needs re-authorization",
    "sync_failed": "last sync failed",
    "disabled": "disabled",
    "quarantined": "quarantined",
}
#: What the administrator does about a state that needs attention.
ADVICE = {
    "needs_reauth": "The service refused the stored credential. Store a new one (or press "
    "Integrate again) on the integration's page; its jobs wait until then.",
    "pending_auth": "Sign in at the service: press Integrate on the integration's page.",
    "sync_failed": "The last sync failed and changed no account. Fix the cause below, then "
    "press Sync now.",
    "quarantined": "Most of its recent jobs failed, so it is tried rarely. Fix the cause, "
    "then lift the quarantine (scimserver integrations lift-quarantine).",
}


def _reads() -> Any:
    return console().parts.need_sql("the dashboard").dashboard


def _after(text: str) -> tuple[int, int] | None:
    first, sep, second = text.partition(".")
    if sep and first.isdigit() and second.isdigit():
        return int(first), int(second)
    return None


def _service_filter(health: list[Any]) -> int | None:
    text = request.args.get("service", "")
    wanted = int(text) if text.isdigit() else None
    return wanted if wanted in {h.id for h in health} else None


@bp.get("/o/<slug>/")
@login_required
def dashboard(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    reads = _reads()
    health = reads.health(org.id)
    shown = request.args.get("show", "all")
    if shown not in SHOWN:
        shown = "all"
    service = _service_filter(health)
    after = _after(request.args.get("after", ""))
    rows = reads.leavers(
        org.id, shown=shown, integration_id=service, after=after, limit=PAGE_SIZE + 1
    )
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        next_url = _here(org, shown, service, after=f"{last.integration_id}.{last.id}")
    notice = None
    code = request.args.get("notice", "")
    if code in TEXT and code.startswith("notice_"):
        notice = TEXT[code].format(account=request.args.get("account", "")[:256])
    refusal = request.args.get("refused", "")
    return page(
        "dashboard.html",
        org=org,
        section="dashboard",
        health=health,
        counts=reads.counts(org.id, health),
        rows=rows,
        shown=shown,
        shown_options={key: TEXT[f"show_{key}"] for key in SHOWN},
        service=service,
        next_url=next_url,
        first_url=_here(org, shown, service) if after else None,
        notice=notice,
        refusal=TEXT.get(refusal) if refusal in LEAVER_REFUSALS else None,
        status_text=STATUS_TEXT,
        advice=ADVICE,
    )


def _here(org: Organization, shown: str, service: int | None, **extra: Any) -> str:
    args: dict[str, Any] = {"show": shown} if shown != "all" else {}
    if service is not None:
        args["service"] = service
    return url_for("admin.dashboard", slug=org.slug, **args, **extra, _anchor="leavers-h")


def _target() -> tuple[int, str]:
    """The integration and account id an action names (query string or form)."""
    integration = request.values.get("integration", "")
    account = request.values.get("account", "")
    if not integration.isdigit() or not account or len(account) > 256:
        abort(404)
    return int(integration), account


def _back(org: Organization, **args: Any) -> ResponseReturnValue:
    return redirect(url_for("admin.dashboard", slug=org.slug, _anchor="leavers-h", **args), 303)


def _refused(org: Organization, exc: LeaverError) -> ResponseReturnValue:
    if exc.code == "not_found":
        abort(404)
    return _back(org, refused=exc.code)


def _service_name(org: Organization, integration_id: int) -> str:
    with console().accounts.accounts(org.id, readonly=True) as session:
        for found in session.integrations():
            if found.id == integration_id:
                return found.display_name
    abort(404)


@bp.route("/o/<slug>/leavers/deprovision", methods=["GET", "POST"])
@login_required
def leaver_deprovision(slug: str) -> ResponseReturnValue:
    """GET: the confirmation; POST (confirmed): queue the job, as the CLI does."""
    org = organization(slug)
    integration_id, account_id = _target()
    parts = console().parts
    leavers = parts.need_sql("the dashboard").leavers
    if request.method == "GET" or request.form.get("confirm") != "yes":
        if leavers.account(org.id, integration_id, account_id) is None:
            abort(404)
        name = _service_name(org, integration_id)
        binding = parts.provisioning.binding(org.id, integration_id)
        policy = binding.integration.settings.on_service_account_delete if binding else ""
        return page(
            "confirm.html",
            org=org,
            section="dashboard",
            question=TEXT["confirm_question"].format(account=account_id, service=name),
            warning=TEXT.get(f"confirm_{policy}", TEXT["policy_nothing"]),
            action=url_for(
                "admin.leaver_deprovision",
                slug=org.slug,
                integration=integration_id,
                account=account_id,
            ),
            button=TEXT["confirm_button"],
            cancel=url_for("admin.dashboard", slug=org.slug, _anchor="leavers-h"),
        )
    try:
        done = deprovision(
            leavers,
            parts.provisioning,
            org.id,
            integration_id,
            account_id,
            actor=signed_in().admin.email,
        )
    except LeaverError as exc:
        return _refused(org, exc)
    if done.queued:
        audit(
            org,
            "account.deprovision_requested",
            f"{_service_name(org, integration_id)}: {account_id}",
            job=done.job_id,
            policy=done.policy,
        )
    notice = "notice_queued" if done.queued else "notice_already"
    return _back(org, notice=notice, account=account_id)


@bp.post("/o/<slug>/leavers/except")
@login_required
def leaver_except(slug: str) -> ResponseReturnValue:
    """Keep the account on purpose (with a reason), or, with ``undo``, put it back."""
    org = organization(slug)
    integration_id, account_id = _target()
    leavers = console().parts.need_sql("the dashboard").leavers
    actor = signed_in().admin.email
    undo = request.form.get("undo") == "yes"
    try:
        if undo:
            _, changed = clear_exception(leavers, org.id, integration_id, account_id, actor=actor)
        else:
            reason = request.form.get("reason", "")
            _, changed = mark_exception(
                leavers, org.id, integration_id, account_id, reason, actor=actor
            )
    except LeaverError as exc:
        return _refused(org, exc)
    if changed:
        target = f"{_service_name(org, integration_id)}: {account_id}"
        if undo:
            audit(org, "account.exception_cleared", target)
        else:
            audit(
                org, "account.exception_marked", target, reason=request.form.get("reason", "")[:500]
            )
    if undo:
        notice = "notice_unexcepted" if changed else "notice_not_excepted"
        return _back(org, notice=notice, account=account_id, show="exceptions")
    notice = "notice_excepted" if changed else "notice_already_excepted"
    return _back(org, notice=notice, account=account_id)
