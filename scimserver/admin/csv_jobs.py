"""Running a started CSV import outside the request that started it.

"Start import" claims the job (``pending`` -> ``running``, one claim per job, so a
second press or a second tab applies nothing twice) and hands the decrypted file to a
background thread of the web process. The thread reports to the database, never to
memory only: after each batch of rows it writes rows done, rows per outcome and a new
lease (:meth:`~scimcore.storage.sql.admins.SqlAdminStore.report_progress`), so any
process of the service can show the job, and a job whose process died is recorded as
``interrupted`` once its lease has run out.

An all-or-nothing import on SQLite is one transaction holding the database's only
write lock, so it cannot write progress until it ends; its lease is granted up front
for the whole file (:data:`SQLITE_ATOMIC_ALLOWANCE` per row). On an in-memory SQLite
database (one shared connection) the import runs in the request, as before.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from scimcore import ScimError
from scimcore.accounts import AccountSession
from scimcore.adapters.csv import (
    FORMATS,
    CsvFileError,
    ImportOptions,
    ImportReport,
    RowResult,
    ServiceAccountImporter,
    UserImporter,
)
from scimcore.adapters.csv.reader import CsvRow
from scimcore.compat import get_profile
from scimcore.storage.base import StoreSession

from ..log_redaction import masked_logger
from .blueprint import Console

log = masked_logger("scimserver.admin")

#: A running job that has not reported for this long is taken for dead.
LEASE = timedelta(minutes=2)
#: Extra lease per row for an all-or-nothing import on SQLite (no progress until it ends).
SQLITE_ATOMIC_ALLOWANCE = timedelta(milliseconds=20)
#: Rows listed on the preview and result pages; the result CSV has every row.
SHOWN_ROWS = 500
#: How long the final write of a job (outcome and activity record) is tried again.
FINISH_PATIENCE = timedelta(seconds=30)
#: Thread names start with this (tests wait for them by name).
THREAD_PREFIX = "scimserver-csv-job-"


@dataclass
class Tally:
    """Rows per outcome so far, added to by the importer after each batch."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, results: list[RowResult]) -> None:
        with self.lock:
            for r in results:
                self.counts[r.outcome] = self.counts.get(r.outcome, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class CountingUserImporter(UserImporter):
    """:class:`UserImporter` that adds each batch's outcomes to a :class:`Tally`."""

    def __init__(self, *args: Any, tally: Tally, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tally = tally

    def apply_batch(self, session: StoreSession, rows: list[CsvRow]) -> list[RowResult]:
        results = super().apply_batch(session, rows)
        self.tally.add(results)
        return results


class CountingServiceAccountImporter(ServiceAccountImporter):
    """:class:`ServiceAccountImporter` that adds each batch's outcomes to a :class:`Tally`."""

    def __init__(self, *args: Any, tally: Tally, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tally = tally

    def apply_batch(self, session: AccountSession, rows: list[CsvRow]) -> list[RowResult]:
        results = super().apply_batch(session, rows)
        self.tally.add(results)
        return results


def importer(
    console: Console,
    organization_id: str,
    kind: str,
    options: ImportOptions,
    tally: Tally | None = None,
    *,
    profile: str = "auto",
) -> UserImporter | ServiceAccountImporter:
    tally = tally or Tally()
    if kind == "users":
        return CountingUserImporter(
            console.store,
            organization_id,
            keyring=console.keyring,
            options=options,
            profile=get_profile(profile),
            tally=tally,
        )
    return CountingServiceAccountImporter(
        console.accounts, organization_id, keyring=console.keyring, options=options, tally=tally
    )


def report_data(report: ImportReport) -> dict[str, Any]:
    """What the preview and result pages show of a report (never a secret cell)."""
    problems = [r for r in report.results if r.outcome == "failed"]
    return {
        "counts": report.counts,
        "warnings": list(report.warnings),
        "rows": len(report.results),
        "rolled_back": report.rolled_back,
        "results": [
            {"row": r.number, "outcome": r.outcome, "code": r.error_code, "message": r.message}
            for r in report.results[:SHOWN_ROWS]
        ],
        "problems": [
            {"row": r.number, "code": r.error_code, "message": r.message}
            for r in problems[:SHOWN_ROWS]
        ],
        "problem_count": len(problems),
    }


@dataclass(frozen=True)
class StartedJob:
    """What the runner needs of a claimed job (no Flask request or app context)."""

    organization_id: str
    job_id: str
    kind: str
    file_name: str
    atomic: bool
    actor: str
    #: The organization's IdP profile, which validates user rows as it does SCIM requests.
    profile: str = "auto"


def runs_in_request(console: Console) -> bool:
    """True on an in-memory SQLite database: its one shared connection cannot serve a
    second thread's transaction while a request runs."""
    return console.parts.single_connection


def lease_for(console: Console, atomic: bool, rows: int) -> timedelta:
    """The lease granted at the start: longer for an import that cannot report."""
    if atomic and console.parts.database == "sqlite":
        return LEASE + SQLITE_ATOMIC_ALLOWANCE * rows
    return LEASE


def start(console: Console, job: StartedJob, data: bytes) -> None:
    """Run the claimed ``job`` on ``data``: in a background thread, or in this request
    when :func:`runs_in_request`."""
    if runs_in_request(console):
        run(console, job, data)
        return
    threading.Thread(
        target=run, args=(console, job, data), name=THREAD_PREFIX + job.job_id, daemon=True
    ).start()


def run(console: Console, job: StartedJob, data: bytes) -> None:
    """Apply the file, reporting progress, then record the outcome; never raises."""
    admins = console.admins
    tally = Tally()
    # Inside the one transaction of an atomic import on SQLite, another write would
    # wait for the lock this thread holds.
    can_report = not (job.atomic and console.parts.database == "sqlite")

    def progress(done: int, total: int) -> None:
        if can_report:
            _guarded(
                lambda: admins.report_progress(
                    job.organization_id,
                    job.job_id,
                    rows_done=done,
                    rows_total=total,
                    counts=tally.snapshot(),
                    lease=LEASE,
                ),
                "could not record the progress of a CSV import",
            )

    try:
        target = importer(
            console,
            job.organization_id,
            job.kind,
            ImportOptions(atomic=job.atomic),
            tally,
            profile=job.profile,
        )
        report = target.run(data, progress)
    except (CsvFileError, ScimError) as exc:
        detail = exc.detail if isinstance(exc, ScimError) else "; ".join(exc.problems)
        _finish_failed(console, job, detail)
        return
    except Exception:
        log.exception("CSV import %s failed unexpectedly", job.job_id)
        _finish_failed(console, job, "Something went wrong on our side; the import stopped.")
        return
    _finish_done(console, job, report)


def _finish_done(console: Console, job: StartedJob, report: ImportReport) -> None:
    out = io.BytesIO()
    report.write_result_csv(out, FORMATS[job.kind])
    summary = report_data(report)
    summary["text"] = report.summary()
    _finish(
        console,
        job,
        status="done",
        summary=summary,
        result_csv=out.getvalue(),
        rows_done=len(report.results),
        counts=report.counts,
        audit=(job.actor, "csv.imported", {"kind": job.kind, "counts": report.counts}),
    )


def _finish_failed(console: Console, job: StartedJob, detail: str) -> None:
    _finish(
        console,
        job,
        status="failed",
        summary={"error": detail},
        result_csv=None,
        audit=(job.actor, "csv.failed", {"kind": job.kind, "error": detail}),
    )


def _finish(console: Console, job: StartedJob, **outcome: Any) -> None:
    """The job's outcome and its activity record, in one transaction
    (:meth:`~scimcore.storage.sql.admins.SqlAdminStore.finish_job`).

    The rows are applied by now, so the record matters: a failed write (the database
    restarting) is tried again for up to :data:`FINISH_PATIENCE`. If it still fails it
    is logged as an error with what it would have recorded, and the job, still
    ``running``, is recorded as ``interrupted`` (with a ``csv.interrupted`` activity
    record) once its lease has run out: never finished without a record.
    """
    deadline = time.monotonic() + FINISH_PATIENCE.total_seconds()
    delay = 0.1
    while True:
        try:
            console.admins.finish_job(job.organization_id, job.job_id, **outcome)
            return
        except Exception:
            if time.monotonic() + delay > deadline:
                log.exception(
                    "could not record the end of CSV import %s (%s, %s); it will show as "
                    "interrupted",
                    job.job_id,
                    outcome["audit"][1],
                    outcome["status"],
                )
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _guarded(write: Callable[[], object], what: str) -> None:
    """A progress write that fails (database gone) must not stop the import or kill
    the thread: the next batch reports again, and the final write is :func:`_finish`."""
    try:
        write()
    except Exception:
        log.exception(what)
