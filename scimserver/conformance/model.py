"""Check registry and result types of the conformance runner.

A *check* is a function taking a :class:`~scimserver.conformance.context.Context`; it
passes by returning, fails by raising :class:`CheckFailed` (with the expected and the
actual outcome) and is skipped by raising :class:`CheckSkipped` (with the reason, e.g.
"ServiceProviderConfig does not advertise etag.supported").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Context

PROFILES = ("rfc", "okta", "entra")
AREAS = (
    "discovery",
    "auth",
    "crud",
    "uniqueness",
    "filtering",
    "sorting",
    "paging",
    "projection",
    "patch",
    "etags",
    "bulk",
    "me",
    "okta",
    "entra",
)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


class CheckFailed(Exception):
    """The server's behaviour differs from what the RFC (or the IdP) requires."""

    def __init__(self, actual: str, expected: str | None = None) -> None:
        super().__init__(actual)
        self.actual = actual
        self.expected = expected


class CheckSkipped(Exception):
    """The check does not apply to this server (feature not advertised, prerequisite failed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


CheckFunc = Callable[["Context"], None]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its stable id, what it proves, and where the RFC says so."""

    id: str
    title: str
    area: str
    rfc: str
    expected: str
    profile: str
    func: CheckFunc


REGISTRY: list[CheckSpec] = []


def area(name: str) -> Callable[..., Callable[[CheckFunc], CheckFunc]]:
    """A decorator factory registering checks of one area (one module per area).

    ``profile`` is ``"rfc"`` for checks every SCIM 2.0 server must pass, or ``"okta"`` /
    ``"entra"`` for the IdP lifecycle checks.
    """

    if name not in AREAS:
        raise ValueError(f"unknown area {name!r}")

    def check(
        id: str, title: str, rfc: str, expected: str, profile: str = "rfc"
    ) -> Callable[[CheckFunc], CheckFunc]:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}")

        def register(func: CheckFunc) -> CheckFunc:
            if any(spec.id == id for spec in REGISTRY):
                raise ValueError(f"duplicate check id {id!r}")
            REGISTRY.append(CheckSpec(id, title, name, rfc, expected, profile, func))
            return func

        return register

    return check


@dataclass
class CheckResult:
    """The outcome of one check, as written to every report format."""

    id: str
    title: str
    area: str
    rfc: str
    profile: str
    status: Status
    expected: str
    actual: str
    request: dict[str, Any] | None = None
    response_status: int | None = None
    reason: str | None = None
    duration_ms: int = 0
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "rfc": self.rfc,
            "profile": self.profile,
            "status": self.status.value,
            "expected": self.expected,
            "actual": self.actual,
            "reason": self.reason,
            "request": self.request,
            "response_status": self.response_status,
            "duration_ms": self.duration_ms,
            "exchanges": self.exchanges,
        }


@dataclass
class Report:
    """Everything one run produced."""

    target: str
    profile: str
    run_id: str
    started: str
    finished: str
    results: list[CheckResult]
    features: dict[str, Any]
    cleanup: dict[str, Any]

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def ok(self) -> bool:
        """True when no check failed (skips do not count as failures)."""
        return self.count(Status.FAIL) == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "tool": "scimserver check",
            "target": self.target,
            "profile": self.profile,
            "run_id": self.run_id,
            "started": self.started,
            "finished": self.finished,
            "summary": {
                "total": len(self.results),
                "passed": self.count(Status.PASS),
                "failed": self.count(Status.FAIL),
                "skipped": self.count(Status.SKIP),
            },
            "features": self.features,
            "cleanup": self.cleanup,
            "checks": [r.to_dict() for r in self.results],
        }
