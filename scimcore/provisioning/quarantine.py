"""Quarantine: an integration whose jobs keep failing is tried rarely, not on every backoff.

Following Entra ID's provisioning quarantine: when most of an
integration's recent jobs end ``dead`` (a permanent error, or retries used up), calling
it again at each job's backoff only hammers a service that is broken for us. The
integration becomes ``quarantined``: its jobs wait, and one *trial* job is let through at
a long interval that grows with each trial that does not clear it (30 minutes, 1 hour,
2 hours ... up to once a day). The first job that succeeds lifts the quarantine, as does
an admin (``scimserver integrations lift-quarantine``).

A refused credential is not counted here: it parks the integration as
``needs_reauth`` at once, and nothing is tried until a new credential is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from .jobs import JobStatus

#: How many of the integration's most recently finished jobs are looked at.
WINDOW = 10
#: How many of them must be dead for the integration to be quarantined.
FAILED = 8
#: The wait before the first trial; each trial that fails doubles it ...
FIRST_TRIAL = timedelta(minutes=30)
#: ... up to this (Entra slows a quarantined job down to once a day).
LONGEST_TRIAL = timedelta(days=1)

QUARANTINED = "quarantined"


def should_quarantine(recent: Sequence[JobStatus]) -> bool:
    """``recent``: statuses of the last :data:`WINDOW` finished jobs, newest first."""
    return sum(1 for status in recent[:WINDOW] if status == "dead") >= FAILED


def trial_interval(trials: int) -> timedelta:
    """The wait before the next trial when ``trials`` trials have been let through."""
    wait: timedelta = FIRST_TRIAL * 2 ** min(trials, 16)
    return min(LONGEST_TRIAL, wait)
