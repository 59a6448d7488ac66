"""Run the conformance checks against one SCIM 2.0 server and build a :class:`Report`.

Before the checks, the runner reads ``/ServiceProviderConfig`` (RFC 7643 5) and
``/ResourceTypes`` (RFC 7643 6) so that checks for optional features (ETags, Bulk,
sorting, cursor paging, the enterprise extension) run only when the server advertises
them and are otherwise reported as skipped. All data is created under a per-run prefix
and deleted in a ``finally`` block, whatever happened.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from . import checks  # noqa: F401  (registers every check)
from .context import Context
from .http import DEFAULT_TIMEOUT, ScimHttp
from .model import (
    AREAS,
    PROFILES,
    REGISTRY,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    CheckSpec,
    Report,
    Status,
)

MAX_EXCHANGES_PER_CHECK = 40


def select(profile: str | None = None, only: list[str] | None = None) -> list[CheckSpec]:
    """The checks of ``profile``: ``rfc`` alone, ``rfc`` + ``okta``/``entra``, or all."""
    if profile in (None, "all"):
        allowed = set(PROFILES)
    elif profile in PROFILES:
        allowed = {"rfc", profile}
    else:
        raise ValueError(f"unknown profile {profile!r} (choose from rfc, okta, entra)")
    chosen = [spec for spec in REGISTRY if spec.profile in allowed]
    chosen.sort(key=lambda spec: AREAS.index(spec.area))  # stable: module order within an area
    if only:
        chosen = [s for s in chosen if any(s.id == o or s.id.startswith(o + ".") for o in only)]
    return chosen


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _discover(ctx: Context) -> None:
    ex = ctx.http.request("GET", "/ServiceProviderConfig")
    data = ex.json()
    if ex.status == 200 and isinstance(data, dict):
        ctx.spc = data
    else:
        ctx.spc_error = ex.summary(200)
    ex = ctx.http.request("GET", "/ResourceTypes")
    data = ex.json()
    if ex.status == 200 and isinstance(data, dict):
        ctx.resource_types = [r for r in data.get("Resources") or [] if isinstance(r, dict)]


def _features(ctx: Context) -> dict[str, Any]:
    return {
        "serviceProviderConfig": ctx.spc is not None,
        "patch": ctx.feature("patch", "supported"),
        "bulk": ctx.feature("bulk", "supported"),
        "filter": ctx.feature("filter", "supported"),
        "sort": ctx.feature("sort", "supported"),
        "etag": ctx.feature("etag", "supported"),
        "changePassword": ctx.feature("changePassword", "supported"),
        "cursorPagination": ctx.feature("pagination", "cursor"),
        "enterpriseUser": ctx.has_enterprise_extension(),
    }


def run_check(ctx: Context, spec: CheckSpec) -> CheckResult:
    """Run one check and turn its outcome into a :class:`CheckResult`."""
    start_index = len(ctx.http.log)
    ctx.focus = None
    ctx.actual = None
    started = time.monotonic()
    status, expected, actual, reason = Status.PASS, spec.expected, "", None
    try:
        spec.func(ctx)
    except CheckFailed as exc:
        status, actual = Status.FAIL, exc.actual
        if exc.expected:
            expected = exc.expected
    except CheckSkipped as exc:
        status, reason, actual = Status.SKIP, exc.reason, "not run"
    except Exception as exc:  # a runner bug must not abort the run, nor pass silently
        status, actual = Status.FAIL, f"runner error: {type(exc).__name__}: {exc}"
    exchanges = ctx.http.log[start_index:]
    focus = ctx.focus or (exchanges[-1] if exchanges else None)
    if status is Status.PASS:
        actual = ctx.actual or (focus.summary() if focus else "as expected")
    return CheckResult(
        id=spec.id,
        title=spec.title,
        area=spec.area,
        rfc=spec.rfc,
        profile=spec.profile,
        status=status,
        expected=expected,
        actual=actual,
        request=focus.request_record() if focus else None,
        response_status=focus.status if focus else None,
        reason=reason,
        duration_ms=int((time.monotonic() - started) * 1000),
        exchanges=[
            {
                "method": ex.method,
                "path": ex.path,
                "body": ex.request_body,
                "status": ex.status,
                "response": ex.text[:2000],
            }
            for ex in exchanges[:MAX_EXCHANGES_PER_CHECK]
        ],
    )


def run(
    base_url: str,
    token: str,
    profile: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    only: list[str] | None = None,
    run_id: str | None = None,
) -> Report:
    """Run the suite against ``base_url`` (a SCIM tenant base URL) and return the report."""
    specs = select(profile, only)
    http = ScimHttp(base_url, token, timeout=timeout)
    ctx = Context(http, run_id)
    started = _now()
    results: list[CheckResult] = []
    cleanup: dict[str, Any] = {}
    try:
        _discover(ctx)
        for spec in specs:
            results.append(run_check(ctx, spec))
    finally:
        cleanup = ctx.cleanup()
    return Report(
        target=http.base_url,
        profile=profile or "all",
        run_id=ctx.run_id,
        started=started,
        finished=_now(),
        results=results,
        features=_features(ctx),
        cleanup=cleanup,
    )


__all__ = ["Report", "run", "run_check", "select"]
